"""mediakit's custom checkov checks (ids MKIT_*), loaded with `--external-checks-dir`.

checkov imports every `.py` file here with this folder on `sys.path`, so checks share helpers by
plain import (`import mkit_conf`). They run inside the checkov virtualenv, never in ours.
"""
