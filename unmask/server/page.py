"""The web page served at ``/``: drop files, watch them scan, read the reports, see the key's history.

One self-contained page (inline CSS and script, no CDN: the service works offline).
It talks only to the public ``/v1`` API, with the API key the user pastes (kept in
the browser's localStorage), and shows each report in a sandboxed frame.
"""

from __future__ import annotations

import html

_PAGE = r"""<!doctype html><html lang=en><head><meta charset=utf-8>
<meta name=viewport content='width=device-width,initial-scale=1'>
<title>unmask</title>
<style>
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
main{max-width:1000px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:24px 0 8px}
.card{background:#fff;border-radius:10px;box-shadow:0 1px 3px #0002;padding:16px 20px;margin:0 0 16px}
#drop{border:2px dashed #8a94a6;border-radius:10px;padding:36px;text-align:center;color:#455;cursor:pointer;background:#fff}
#drop.over{background:#e8f0fe;border-color:#1a73e8}
.row{display:grid;grid-template-columns:1fr 160px 220px;gap:12px;align-items:center;padding:8px 0;border-bottom:1px solid #e3e6ea}
.name{font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
progress{width:100%}
.verdict{display:inline-block;padding:3px 10px;border-radius:999px;font-weight:700;color:#fff;font-size:13px}
.likely_manipulated{background:#c62828}.likely_authentic{background:#2e7d32}.uncertain{background:#8d6e00}.error,.failed{background:#546e7a}
.reasons{margin:4px 0 0 0;padding-left:18px;grid-column:1/-1;font-size:14px}
button.link{background:none;border:none;color:#1a73e8;cursor:pointer;padding:0;font:inherit;text-decoration:underline}
iframe{width:100%;height:720px;border:1px solid #dde;border-radius:8px;background:#fff}
table{border-collapse:collapse;width:100%;font-size:14px}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e3e6ea}
.muted{color:#778;font-size:13px}.err{color:#b00020}
</style></head><body><main>
<h1>unmask</h1>
<p class=muted>Drop photos, videos or recordings: each is scanned offline on this server for signs of manipulation or machine generation. Largest file: __MAX_MB__ MiB.</p>
<div class=card><label>API key __KEY_NOTE__ <input id=key type=password size=60 autocomplete=off placeholder="umk_…"></label>
<button id=savekey>save</button> <span id=keymsg class=muted></span></div>
<div id=drop tabindex=0>Drop files here, or click to choose<input id=file-input type=file multiple hidden></div>
<div class=card id=uploads-card hidden><h2>This session</h2><div id=uploads></div></div>
<div class=card id=report-card hidden><h2 id=report-title>Report</h2><iframe id=report-frame sandbox title="report"></iframe></div>
<div class=card><h2>History <button class=link id=refresh>refresh</button></h2><table id=history><thead><tr><th>file</th><th>status</th><th>verdict</th><th>probability</th><th>when</th></tr></thead><tbody></tbody></table></div>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const LABEL = {likely_manipulated: "LIKELY MANIPULATED", likely_authentic: "LIKELY AUTHENTIC", uncertain: "UNCERTAIN", error: "COULD NOT ANALYSE"};
$("key").value = localStorage.getItem("unmask-key") || "";
$("savekey").onclick = () => { localStorage.setItem("unmask-key", $("key").value.trim()); $("keymsg").textContent = "saved"; loadHistory(); };
function headers() { const k = $("key").value.trim(); return k ? {"Authorization": "Bearer " + k} : {}; }
function text(tag, content, cls) { const e = document.createElement(tag); e.textContent = content; if (cls) e.className = cls; return e; }
function errorMessage(xhrOrBody) {
  try { const b = typeof xhrOrBody === "string" ? JSON.parse(xhrOrBody) : xhrOrBody; return b.error.message + (b.error.hint ? " (" + b.error.hint + ")" : ""); }
  catch (e) { return "request failed"; }
}
function verdictBadge(verdict, probability) {
  const span = text("span", (LABEL[verdict] || verdict) + (probability == null ? "" : "  " + Math.round(probability * 100) + "%"), "verdict " + verdict);
  span.dataset.verdict = verdict; return span;
}
let reportSeq = 0;
async function showReport(id, name) {
  const seq = ++reportSeq;  // the report asked for last is the one shown, whichever answer comes first
  const r = await fetch("/v1/scans/" + id + "/report.html", {headers: headers()});
  const body = await r.text();
  if (seq !== reportSeq) return;
  if (!r.ok) { alert(errorMessage(body)); return; }
  $("report-title").textContent = "Report: " + name;
  // Show the card first, then load a fresh frame: Chromium runs a sandboxed frame in its own
  // process and may never lay out a document loaded while the frame was display:none.
  $("report-card").hidden = false;
  const frame = document.createElement("iframe");
  frame.id = "report-frame"; frame.title = "report"; frame.setAttribute("sandbox", "");
  $("report-frame").replaceWith(frame);
  frame.srcdoc = body;
  $("report-card").scrollIntoView({behavior: "smooth"});
}
function addRow(file) {
  $("uploads-card").hidden = false;
  const row = document.createElement("div"); row.className = "row upload";
  const bar = document.createElement("progress"); bar.max = 1; bar.value = 0;
  const status = text("div", "uploading", "status");
  row.append(text("div", file.name, "name"), bar, status);
  $("uploads").prepend(row);
  return {row, bar, status};
}
function upload(file) {
  const ui = addRow(file);
  const form = new FormData(); form.append("file", file, file.name);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/v1/scans");
  for (const [k, v] of Object.entries(headers())) xhr.setRequestHeader(k, v);
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) ui.bar.value = 0.5 * e.loaded / e.total; };
  xhr.onload = () => {
    if (xhr.status !== 202) { ui.status.textContent = ""; ui.status.append(text("span", errorMessage(xhr.responseText), "err")); ui.row.dataset.state = "rejected"; return; }
    const id = JSON.parse(xhr.responseText).id; ui.row.dataset.id = id; poll(id, file.name, ui);
  };
  xhr.onerror = () => { ui.status.textContent = "network error"; };
  xhr.send(form);
}
async function poll(id, name, ui) {
  const r = await fetch("/v1/scans/" + id, {headers: headers()});
  const job = await r.json();
  if (!r.ok) { ui.status.textContent = errorMessage(job); return; }
  ui.row.dataset.state = job.status;
  if (job.status === "queued" || job.status === "running") {
    ui.bar.value = job.status === "queued" ? 0.6 : 0.8; ui.status.textContent = job.status;
    setTimeout(() => poll(id, name, ui), 400); return;
  }
  ui.bar.value = 1; ui.status.textContent = "";
  if (job.report) {
    ui.status.append(verdictBadge(job.report.verdict, job.report.probability), document.createTextNode(" "));
    const open = text("button", "report", "link open-report"); open.onclick = () => showReport(id, name); ui.status.append(open);
    const ul = document.createElement("ul"); ul.className = "reasons";
    for (const reason of job.report.reasons) ul.append(text("li", reason));
    ui.row.append(ul);
    showReport(id, name);
  } else {
    ui.status.append(text("span", "failed: " + (job.error ? job.error.message : "unknown"), "err"));
  }
  loadHistory();
}
let historySeq = 0;
async function loadHistory() {
  // Calls overlap (every finished upload asks): only the latest response is drawn, in one step.
  const seq = ++historySeq;
  const r = await fetch("/v1/scans?limit=100", {headers: headers()});
  const rows = [];
  if (!r.ok) { const tr = document.createElement("tr"); const td = text("td", errorMessage(await r.text()), "err"); td.colSpan = 5; tr.append(td); rows.push(tr); }
  else for (const job of (await r.json()).scans) {
    const tr = document.createElement("tr");
    const name = document.createElement("td");
    if (job.status === "done" || (job.status === "failed" && job.verdict)) { const b = text("button", job.filename, "link"); b.onclick = () => showReport(job.id, job.filename); name.append(b); }
    else name.textContent = job.filename;
    const v = document.createElement("td"); if (job.verdict) v.append(verdictBadge(job.verdict, null));
    tr.append(name, text("td", job.status), v, text("td", job.probability == null ? "" : job.probability.toFixed(2)), text("td", new Date(job.created_at * 1000).toLocaleString()));
    rows.push(tr);
  }
  if (seq === historySeq) $("history").querySelector("tbody").replaceChildren(...rows);
}
const drop = $("drop");
drop.onclick = () => $("file-input").click();
drop.onkeydown = (e) => { if (e.key === "Enter" || e.key === " ") $("file-input").click(); };
$("file-input").onchange = (e) => { for (const f of e.target.files) upload(f); e.target.value = ""; };
drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
drop.ondragleave = () => drop.classList.remove("over");
drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove("over"); for (const f of e.dataTransfer.files) upload(f); };
$("refresh").onclick = loadHistory;
loadHistory();
</script></body></html>
"""


def page_html(*, require_keys: bool, max_upload_bytes: int) -> str:
    """The page, with the server's upload limit and whether a key is required filled in."""
    note = "(required)" if require_keys else "(optional on this server)"
    return _PAGE.replace("__KEY_NOTE__", html.escape(note)).replace("__MAX_MB__", f"{max_upload_bytes / (1 << 20):,.0f}")
