"""The Pulumi program: read config, build the pipeline, export its outputs."""

from __future__ import annotations

import pulumi

from stacks import deployment
from stacks.artifact import FUNCTIONS, Target, ensure_artifact
from stacks.config import NAMESPACE, StackConfig, reject_unknown_keys
from stacks.pipeline import MediaPipeline, MediaPipelineArgs

# Config set by `pulumi config set` (or a Pulumi.<stack>.yaml) reaches the program either way.
reject_unknown_keys({**pulumi.runtime.get_config_env(), **pulumi.runtime.config.CONFIG.get()})
config = StackConfig.from_config(pulumi.Config(NAMESPACE).get, pulumi.get_stack())
if not deployment.is_offline():
    # The shipped stack files carry example.com issuers and emails so `mediakit check` runs;
    # `pulumi preview/up` with them would deploy an API that answers 401 to everyone.
    config.refuse_placeholders()
artifacts = {
    function: ensure_artifact(Target(config.lambda_architecture, config.lambda_python, function))
    for function in FUNCTIONS
    # The media function (and its zip, with PyAV) exists only with audio or video on.
    if function != "media" or config.settings.media_enabled
}
pipeline = MediaPipeline("media", MediaPipelineArgs(config, artifacts))
for output_name, value in pipeline.outputs.items():
    pulumi.export(output_name, value)
