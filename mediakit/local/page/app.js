// The upload page of `mediakit dev`: the browser twin of mediakit/client.py. Plain script, no
// build step, no framework. It does what a browser app of the upload API does: get a token,
// POST /v1/uploads, send the bytes to S3 with exactly what the API signed (PUT, form POST, or
// multipart parts in parallel, then POST .../complete), poll the status URL, show the result.
"use strict";

const TERMINAL = new Set(["completed", "failed", "deleted", "expired"]);
const PART_CONCURRENCY = 4; // parts of one multipart upload in flight at once
const FILE_CONCURRENCY = 2; // files uploading at once
const POLL_INTERVAL_MS = 400;
const POLL_TIMEOUT_MS = 180000;
// The checksum is read into memory; above this the upload goes without one.
const SHA256_MAX_BYTES = 64 * 1024 * 1024;
// Headers a page cannot set (the Fetch standard's forbidden request headers): the browser sends
// its own, e.g. content-length from the body, and they still match what S3 signed.
const FORBIDDEN_HEADERS = new Set([
  "accept-charset", "accept-encoding", "connection", "content-length", "cookie", "date",
  "expect", "host", "keep-alive", "origin", "referer", "te", "trailer", "transfer-encoding",
  "upgrade", "via",
]);

const state = { config: null, queue: [], active: 0 };

function $(id) {
  return document.getElementById(id);
}

class UploadError extends Error {}

// -- connection: API URL, dev tokens, pasted tokens -------------------------------------------

function apiBase() {
  return $("api-url").value.trim().replace(/\/+$/, "");
}

function currentToken() {
  return $("token").value.trim().replace(/^bearer\s+/i, "");
}

function tokenClaims(token) {
  const part = token.split(".")[1];
  if (!part) return null;
  try {
    const binary = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

function showTokenInfo() {
  const info = $("token-info");
  const token = currentToken();
  info.classList.remove("bad");
  if (!token) {
    info.textContent = "No token yet: get a dev token, or paste one.";
    return;
  }
  const claims = tokenClaims(token);
  if (!claims) {
    info.textContent = "The token is not a readable JWT.";
    info.classList.add("bad");
    return;
  }
  const claim = (state.config && state.config.tenant_claim) || "sub";
  const tenant = JSON.stringify(claims[claim]);
  const expires = typeof claims.exp === "number" ? new Date(claims.exp * 1000) : null;
  const when = expires ? `expires ${expires.toLocaleTimeString()}` : "no expiry";
  // The stack's scope claim: a space-separated string (scope) or an array (scp, custom claims).
  const scopeClaim = (state.config && state.config.scope_claim) || "scope";
  const granted = claims[scopeClaim];
  const listed = Array.isArray(granted) ? granted.join(" ") : granted;
  const scopes = listed ? `, scopes ${listed} (claim ${scopeClaim})` : "";
  info.textContent = `Token for tenant ${tenant} (claim ${claim}), ${when}${scopes}.`;
  if (expires && expires.getTime() < Date.now()) info.classList.add("bad");
}

async function loadConfig() {
  $("api-url").value = location.origin;
  try {
    // Relative: /dev/config.json on the emulator; absent wherever else the page is served.
    const resp = await fetch("config.json", { cache: "no-store" });
    state.config = resp.ok ? await resp.json() : null;
  } catch {
    state.config = null;
  }
  const info = $("issuer-info");
  if (!state.config) {
    info.textContent = "Not served by mediakit dev: set the API URL and paste a token.";
    $("get-token").disabled = true;
  } else if (!state.config.dev_tokens) {
    info.textContent =
      `The API trusts ${state.config.issuer} (audience ${state.config.audience}): ` +
      "paste a token from that identity provider.";
    $("get-token").disabled = true;
  } else {
    info.textContent =
      `Dev tokens: issuer ${state.config.issuer}, audience ${state.config.audience}, ` +
      `tenant claim ${state.config.tenant_claim}. Emulator only.`;
  }
  showTokenInfo();
}

async function getDevToken() {
  const path = (state.config && state.config.token_path) || "/dev/token";
  const info = $("token-info");
  let resp;
  try {
    resp = await fetch(apiBase() + path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ tenant: $("tenant").value.trim() }),
      cache: "no-store",
    });
  } catch {
    info.textContent = "The dev token endpoint answers this emulator's own page only.";
    info.classList.add("bad");
    throw new UploadError("no dev token");
  }
  const body = await resp.json().catch(() => null);
  if (!resp.ok || !body || !body.access_token) {
    info.textContent = describeApiError(resp, body);
    info.classList.add("bad");
    throw new UploadError("no dev token");
  }
  $("token").value = body.access_token;
  showTokenInfo();
}

async function ensureToken() {
  const token = currentToken();
  const claims = token ? tokenClaims(token) : null;
  const fresh = claims && typeof claims.exp === "number" && claims.exp * 1000 > Date.now() + 5000;
  if ((!token || !fresh) && state.config && state.config.dev_tokens) await getDevToken();
  if (!currentToken()) throw new UploadError("no token: get a dev token, or paste one");
}

// -- HTTP: the API (fetch) and S3 (XMLHttpRequest, for upload progress) ------------------------

function shortUrl(url) {
  return url.split("?")[0];
}

function describeApiError(resp, data) {
  if (data && data.error) return `HTTP ${resp.status} ${data.error.code}: ${data.error.message}`;
  if (data && data.message) {
    // API Gateway's own body ({"message": ...}): its authorizer, throttling or a crash.
    const challenge = resp.headers.get("www-authenticate");
    return `HTTP ${resp.status} ${data.message} (API Gateway)` + (challenge ? `: ${challenge}` : "");
  }
  return `HTTP ${resp.status}`;
}

async function api(method, pathOrUrl, body) {
  const url = /^https?:\/\//.test(pathOrUrl) ? pathOrUrl : apiBase() + pathOrUrl;
  const init = {
    method,
    headers: { authorization: `Bearer ${currentToken()}`, accept: "application/json" },
    cache: "no-store",
  };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(url, init);
  } catch {
    // Scripts see a CORS refusal only as a failed fetch; the console says which it was.
    throw new UploadError(
      `${method} ${shortUrl(url)} was blocked: network error or CORS refusal ` +
        `(is this page's origin, ${location.origin}, one the API allows?)`,
    );
  }
  const data = await resp.json().catch(() => null);
  if (!resp.ok) throw new UploadError(`${method} ${shortUrl(url)}: ${describeApiError(resp, data)}`);
  return data;
}

function s3Error(xhr) {
  const text = xhr.responseText || "";
  const code = /<Code>([^<]*)<\/Code>/.exec(text);
  const message = /<Message>([^<]*)<\/Message>/.exec(text);
  return `HTTP ${xhr.status} ${code ? code[1] : ""}${message ? ": " + message[1] : ""}`;
}

function send(method, url, headers, body, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [name, value] of Object.entries(headers || {})) {
      if (!FORBIDDEN_HEADERS.has(name.toLowerCase())) xhr.setRequestHeader(name, value);
    }
    xhr.upload.onprogress = (event) => onProgress(event.loaded);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr);
      else reject(new UploadError(`${method} to S3: ${s3Error(xhr)}`));
    };
    xhr.onerror = () =>
      reject(
        new UploadError(
          `${method} ${shortUrl(url)} was blocked: network error or CORS refusal ` +
            `(does the bucket's CORS rule allow ${location.origin}?)`,
        ),
      );
    xhr.send(body);
  });
}

async function sha256Hex(file) {
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

// -- one upload ---------------------------------------------------------------------------------

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

class Card {
  constructor(file) {
    const node = $("upload-template").content.firstElementChild.cloneNode(true);
    node.querySelector(".name").textContent = file.name;
    node.querySelector(".size").textContent = formatBytes(file.size);
    this.node = node;
    this.setState("queued", "waiting for a free slot");
    $("uploads").prepend(node);
  }

  setState(name, detail) {
    this.node.dataset.state = name;
    this.node.querySelector(".status").textContent = name;
    if (detail !== undefined) this.node.querySelector(".detail").textContent = detail;
  }

  setMethod(method, uploadId) {
    this.node.dataset.method = method;
    this.node.dataset.uploadId = uploadId;
    this.node.querySelector(".method").textContent = method;
  }

  progress(fraction) {
    const percent = Math.max(0, Math.min(100, fraction * 100));
    this.node.querySelector(".fill").style.width = `${percent.toFixed(1)}%`;
  }
}

async function putParts(created, file, card) {
  const parts = [...created.parts];
  // The create answer holds the first page of part URLs; the parts route has the rest.
  for (let cursor = created.next_cursor; cursor; ) {
    const page = await api("GET", `${created.parts_url}?cursor=${encodeURIComponent(cursor)}`);
    parts.push(...page.parts);
    cursor = page.next_cursor;
  }
  parts.sort((a, b) => a.part_number - b.part_number);
  let offset = 0;
  const jobs = parts.map((part) => {
    const job = { ...part, start: offset };
    offset += part.size;
    return job;
  });
  if (offset !== file.size) throw new UploadError("the parts the API planned do not add up to the file");
  const loaded = new Map();
  const done = [];
  let next = 0;
  const report = () => {
    let sum = 0;
    for (const n of loaded.values()) sum += n;
    card.progress(sum / file.size);
    card.setState("uploading", `${done.length} of ${jobs.length} parts sent`);
  };
  async function worker() {
    while (next < jobs.length) {
      const job = jobs[next++];
      const body = file.slice(job.start, job.start + job.size);
      const xhr = await send("PUT", job.url, job.headers, body, (n) => {
        loaded.set(job.part_number, n);
        report();
      });
      const etag = xhr.getResponseHeader("etag");
      if (!etag) {
        throw new UploadError(
          `S3 answered part ${job.part_number} without a readable ETag: ` +
            "the bucket's CORS rule must expose ETag",
        );
      }
      loaded.set(job.part_number, job.size);
      done.push({ part_number: job.part_number, etag });
      report();
    }
  }
  const workers = Array.from({ length: Math.min(PART_CONCURRENCY, jobs.length) }, worker);
  await Promise.all(workers);
  done.sort((a, b) => a.part_number - b.part_number);
  card.setState("uploading", `${jobs.length} parts sent: completing`);
  await api("POST", created.url, { parts: done });
}

async function postForm(created, file, card) {
  const form = new FormData();
  for (const [name, value] of Object.entries(created.fields || {})) form.append(name, value);
  form.append("file", file); // S3 ignores every field after the file
  await send("POST", created.url, {}, form, (n) => card.progress(n / file.size));
}

async function poll(created, card) {
  const deadline = Date.now() + POLL_TIMEOUT_MS;
  for (;;) {
    const record = await api("GET", created.status_url);
    if (TERMINAL.has(record.status)) return record;
    card.setState(record.status, `upload ${created.upload_id}: ${record.status}`);
    if (Date.now() > deadline) throw new UploadError(`still ${record.status} after 3 minutes`);
    await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS));
  }
}

function addRow(tbody, name, value, group) {
  const row = tbody.insertRow();
  if (group) row.className = "group";
  const th = document.createElement("th");
  th.textContent = name;
  row.appendChild(th);
  const td = row.insertCell();
  td.textContent = value === undefined ? "" : typeof value === "object" ? JSON.stringify(value) : String(value);
}

function showRecord(card, record) {
  const result = card.node.querySelector(".result");
  const gallery = result.querySelector(".derivatives");
  for (const d of record.derivatives || []) {
    const figure = document.createElement("figure");
    const img = document.createElement("img");
    img.alt = `${d.name} derivative`;
    img.dataset.name = d.name;
    img.src = d.url;
    const caption = document.createElement("figcaption");
    caption.textContent = `${d.name} ${d.width}×${d.height} ${d.format} ${formatBytes(d.bytes)}`;
    figure.append(img, caption);
    gallery.appendChild(figure);
  }
  const tbody = result.querySelector("tbody");
  for (const name of ["upload_id", "content_type", "format", "width", "height", "bytes", "sha256"]) {
    if (record[name] !== undefined && record[name] !== null) addRow(tbody, name, record[name]);
  }
  if (record.media && Object.keys(record.media).length) {
    addRow(tbody, "media", "", true);
    for (const [k, v] of Object.entries(record.media)) addRow(tbody, k, v);
  }
  // EXIF as the record returns it; GPS appears only for tenants the stack allows it for.
  const exif = record.exif || {};
  addRow(tbody, "EXIF", Object.keys(exif).length ? "" : "none", true);
  for (const [k, v] of Object.entries(exif)) addRow(tbody, k, v);
  const metadata = record.metadata || {};
  if (Object.keys(metadata).length) {
    addRow(tbody, "metadata", "", true);
    for (const [k, v] of Object.entries(metadata)) addRow(tbody, k, v);
  }
  result.hidden = false;
}

async function upload(file, card) {
  await ensureToken();
  card.setState("presigning", "asking the API how to upload");
  const request = {
    filename: file.name,
    content_type: file.type || "application/octet-stream",
    size: file.size,
  };
  // Files at or above the multipart threshold go multipart whatever is asked.
  if ($("method").value) request.method = $("method").value;
  if (window.crypto && crypto.subtle && file.size <= SHA256_MAX_BYTES) request.sha256 = await sha256Hex(file);
  const created = await api("POST", "/v1/uploads", request);
  card.setMethod(created.method, created.upload_id);
  card.setState("uploading", `sending to S3 (${created.method})`);
  if (created.method === "PUT") {
    await send("PUT", created.url, created.headers, file, (n) => card.progress(n / file.size));
  } else if (created.method === "POST") {
    await postForm(created, file, card);
  } else if (created.method === "MULTIPART") {
    await putParts(created, file, card);
  } else {
    throw new UploadError(`unknown upload method ${created.method}`);
  }
  card.progress(1);
  card.setState("uploaded", `upload ${created.upload_id}: waiting for the processor`);
  const record = await poll(created, card);
  if (record.status === "completed") {
    card.setState("completed", `upload ${created.upload_id}: ${(record.derivatives || []).length} derivatives`);
    showRecord(card, record);
  } else {
    const error = record.error || {};
    card.setState(record.status, `${error.code || record.status}: ${error.message || ""}`);
  }
}

function pump() {
  while (state.active < FILE_CONCURRENCY && state.queue.length) {
    const { file, card } = state.queue.shift();
    state.active += 1;
    upload(file, card)
      .catch((err) => {
        // The bar stays where the bytes stopped: how far it got is part of the diagnosis.
        card.setState("failed", err instanceof Error ? err.message : String(err));
        if (!(err instanceof UploadError)) console.error(err);
      })
      .finally(() => {
        state.active -= 1;
        pump();
      });
  }
}

function enqueue(files) {
  for (const file of files) state.queue.push({ file, card: new Card(file) });
  pump();
}

// -- wiring ---------------------------------------------------------------------------------------

function wire() {
  const drop = $("drop");
  $("files").addEventListener("change", (event) => {
    enqueue(event.target.files);
    event.target.value = "";
  });
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    enqueue(event.dataTransfer.files);
  });
  $("get-token").addEventListener("click", () => getDevToken().catch(() => {}));
  $("token").addEventListener("input", showTokenInfo);
  loadConfig();
}

wire();
