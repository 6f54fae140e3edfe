// scfd console: a small page over the SCF API. Every action goes through
// POST /console/api with the session cookie and the CSRF token; the page
// builds its DOM with h() (no innerHTML), so data never becomes markup.
"use strict";

const $ = (sel, el = document) => el.querySelector(sel);
let session = null; // SessionInfo of /console/session
let stops = []; // timers of the current view, stopped when it changes
window.scfdCharts = {}; // the uPlot instances of the monitoring tab, by name

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "value") el.value = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === undefined || kid === null || kid === false) continue;
    el.append(kid instanceof Node ? kid : String(kid));
  }
  return el;
}

class ApiError extends Error {
  constructor(code, message, requestId) {
    super(`${code}: ${message}`);
    this.code = code;
    this.requestId = requestId;
  }
}

async function call(action, body) {
  const r = await fetch("api", {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": session ? session.CSRFToken : "" },
    body: JSON.stringify({ Action: action, Body: body || {} }),
  });
  const j = await r.json();
  if (r.status === 401) {
    session = null;
    showSignin("Your session has ended: sign in again.");
    throw new ApiError(j.Error.Code, j.Error.Message);
  }
  if (j.Error) throw new ApiError(j.Error.Code, j.Error.Message);
  const resp = j.Response;
  if (resp.Error) throw new ApiError(resp.Error.Code, resp.Error.Message, resp.RequestId);
  return resp;
}

// can says whether the session's key may call action: the page offers
// only what the key's role allows.
function can(action) {
  return !!session && (session.Admin || (session.Actions || []).includes(action));
}

// only returns el when the key may call action, else nothing.
function only(action, el) {
  return can(action) ? el : null;
}

function toast(msg, bad) {
  const t = $("#toast");
  t.textContent = msg;
  t.className = bad ? "toast bad" : "toast";
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.hidden = true), bad ? 6000 : 2500);
}

// act runs an action from a button, reporting its outcome.
async function act(what, action, body, then) {
  try {
    const r = await call(action, body);
    toast(what + ": done");
    if (then) await then(r);
    return r;
  } catch (e) {
    toast(what + ": " + e.message, true);
  }
}

function every(ms, fn) {
  const id = setInterval(fn, ms);
  stops.push(() => clearInterval(id));
}

// ---- sign-in ----

function showSignin(msg) {
  stops.forEach((s) => s());
  stops = [];
  $("#signin").hidden = false;
  $("#view").hidden = true;
  $("#nav").hidden = true;
  $("#signout").hidden = true;
  $("#who").textContent = "";
  $("#signin-error").textContent = msg || "";
}

async function signin(ev) {
  ev.preventDefault();
  const r = await fetch("login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ SecretId: $("#secret-id").value.trim(), SecretKey: $("#secret-key").value }),
  });
  const j = await r.json();
  $("#secret-key").value = "";
  if (!r.ok) {
    $("#signin-error").textContent = j.Error ? j.Error.Message : "sign-in failed";
    return;
  }
  session = j;
  started();
}

async function signout() {
  await fetch("logout", { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": session.CSRFToken }, body: "{}" });
  session = null;
  showSignin("Signed out.");
}

function started() {
  $("#signin").hidden = true;
  $("#view").hidden = false;
  $("#nav").hidden = false;
  $("#signout").hidden = false;
  $("#who").textContent = session.SecretId + (session.Admin ? " (administrator)" : " (" + session.Role + ": " + (session.Namespaces || []).join(", ") + ")");
  $("#nav-keys").hidden = !can("ListKeys");
  route();
}

// ---- routing: #/ns/{ns}, #/fn/{ns}/{name}/{tab}?k=v, #/usage ----

function parseHash() {
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query || "") };
}

function fnHref(ns, name, tab, params) {
  const q = params ? "?" + new URLSearchParams(params) : "";
  return `#/fn/${encodeURIComponent(ns)}/${encodeURIComponent(name)}/${tab || "config"}${q}`;
}

async function route() {
  if (!session) return;
  stops.forEach((s) => s());
  stops = [];
  window.scfdCharts = {};
  const { parts, params } = parseHash();
  const view = $("#view");
  view.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  try {
    if (parts[0] === "fn" && parts.length >= 3) {
      await functionPage(view, parts[1], parts[2], parts[3] || "config", params);
    } else if (parts[0] === "usage") {
      await usagePage(view);
    } else if (parts[0] === "keys" && can("ListKeys")) {
      await keysPage(view);
    } else {
      await functionsPage(view, parts[0] === "ns" ? parts[1] : null);
    }
  } catch (e) {
    if (session) view.replaceChildren(h("p", { class: "error" }, e.message));
  }
}

// ---- namespaces and functions ----

function imageParts(fn) {
  const uri = (fn.ImageConfig && fn.ImageConfig.ImageUri) || "";
  const at = uri.indexOf("@");
  const image = at < 0 ? uri : uri.slice(0, at);
  return { image, digest: fn.ImageDigest || (at < 0 ? "" : uri.slice(at + 1)) };
}

function statusCell(fn) {
  const reasons = (fn.StatusReasons || []).map((r) => `${r.ErrorCode}: ${r.ErrorMessage}`).join("\n");
  return h("td", { class: "status-" + fn.Status, "data-status": fn.Status },
    fn.Status,
    fn.StatusDesc ? h("div", { class: "muted" }, fn.StatusDesc) : null,
    reasons ? h("div", { class: "error" }, reasons) : null);
}

async function functionsPage(view, ns) {
  const nss = await call("ListNamespaces", { Limit: 100 });
  const names = nss.Namespaces.map((n) => n.Name);
  ns = ns || (names.includes("default") ? "default" : names[0] || "default");
  const list = await call("ListFunctions", { Namespace: ns, Limit: 100, Order: "ASC", Orderby: "FunctionName" });
  const details = await Promise.all(list.Functions.map((f) => call("GetFunction", { Namespace: ns, FunctionName: f.FunctionName }).catch(() => f)));
  const select = h("select", { id: "namespace", onchange: (e) => (location.hash = "#/ns/" + encodeURIComponent(e.target.value)) },
    names.map((n) => h("option", { value: n, selected: n === ns }, n)));
  const rows = details.map((fn) => {
    const img = imageParts(fn);
    return h("tr", { "data-function": fn.FunctionName },
      h("td", {}, h("a", { href: fnHref(ns, fn.FunctionName) }, fn.FunctionName)),
      statusCell(fn),
      h("td", {}, fn.Type || "Event"),
      h("td", { class: "mono" }, img.image),
      h("td", { class: "mono" }, img.digest ? img.digest.slice(0, 19) + "…" : ""),
      h("td", {}, fn.MemorySize ? fn.MemorySize + " MB" : ""),
      h("td", {}, fn.Timeout ? fn.Timeout + " s" : ""),
      h("td", {}, fn.ModTime || ""));
  });
  view.replaceChildren(
    h("div", { class: "title" }, h("h1", {}, "Functions"), h("label", {}, "Namespace", select)),
    h("table", { id: "functions" },
      h("thead", {}, h("tr", {}, ["Name", "Status", "Type", "Image", "Digest", "Memory", "Timeout", "Modified"].map((c) => h("th", {}, c)))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No functions in this namespace.")))),
    h("p", { class: "muted" }, `${list.TotalCount} function(s) in ${ns}.`));
  if (details.some((f) => /ing$/.test(f.Status))) every(2000, route); // pulls in progress
}

// ---- a function's page ----

async function functionPage(view, ns, name, tab, params) {
  const fn = await call("GetFunction", { Namespace: ns, FunctionName: name });
  const tabs = [["config", "Configuration"], ["test", "Test"], ["logs", "Logs"], ["monitor", "Monitoring"]];
  const body = h("div", { id: "tab-" + tab });
  view.replaceChildren(
    h("p", {}, h("a", { href: "#/ns/" + encodeURIComponent(ns) }, ns), " / "),
    h("div", { class: "title" }, h("h1", { id: "function-name" }, name), h("span", { class: "status-" + fn.Status }, fn.Status)),
    h("nav", { class: "tabs" }, tabs.map(([t, label]) => h("a", { href: fnHref(ns, name, t), class: t === tab ? "on" : "", id: "tab-link-" + t }, label))),
    body);
  const ctx = { ns, name, fn, params };
  if (tab === "test") return testTab(body, ctx);
  if (tab === "logs") return logsTab(body, ctx);
  if (tab === "monitor") return monitorTab(body, ctx);
  return configTab(body, ctx);
}

function section(title, ...kids) {
  return h("section", { class: "card" }, h("h2", {}, title), kids);
}

function table(id, headers, rows, empty) {
  return h("table", { id },
    h("thead", {}, h("tr", {}, headers.map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: headers.length, class: "muted" }, empty || "None."))));
}

async function configTab(el, { ns, name, fn }) {
  const ref = { Namespace: ns, FunctionName: name };
  const reload = () => route();
  const img = imageParts(fn);
  const kv = (pairs) => h("dl", { class: "kv" }, pairs.map(([k, v]) => [h("dt", {}, k), h("dd", { class: k === "Digest" || k === "Image" ? "mono" : "" }, v)]));
  const overview = kv([
    ["Status", fn.Status + (fn.StatusDesc ? " — " + fn.StatusDesc : "")],
    ["Type", fn.Type], ["Image", img.image], ["Digest", img.digest],
    ["Memory", fn.MemorySize + " MB"], ["Timeout", fn.Timeout + " s"], ["Init timeout", fn.InitTimeout + " s"],
    ["Description", fn.Description], ["Created", fn.AddTime], ["Modified", fn.ModTime],
  ]);

  // Editable configuration and environment.
  const vars = (fn.Environment && fn.Environment.Variables) || [];
  const envRows = h("tbody", {});
  const addVar = (k, v) => envRows.append(h("tr", {},
    h("td", {}, h("input", { class: "env-key", value: k, placeholder: "KEY" })),
    h("td", {}, h("input", { class: "env-value", value: v, placeholder: "value", size: 24 })),
    h("td", {}, h("button", { type: "button", onclick: (e) => e.target.closest("tr").remove() }, "Remove"))));
  vars.forEach((v) => addVar(v.Key, v.Value));
  const desc = h("input", { id: "cfg-description", value: fn.Description, size: 40 });
  const mem = h("input", { id: "cfg-memory", type: "number", min: 64, step: 64, value: fn.MemorySize });
  const timeout = h("input", { id: "cfg-timeout", type: "number", min: 1, max: 900, value: fn.Timeout });
  const save = async () => {
    const Variables = [...envRows.querySelectorAll("tr")].map((tr) => ({ Key: $(".env-key", tr).value.trim(), Value: $(".env-value", tr).value })).filter((v) => v.Key);
    await act("Save configuration", "UpdateFunctionConfiguration", {
      ...ref, Description: desc.value, MemorySize: Number(mem.value), Timeout: Number(timeout.value), Environment: { Variables },
    }, reload);
  };
  const edit = h("div", {},
    h("div", { class: "row" }, h("label", {}, "Description", desc), h("label", {}, "Memory (MB)", mem), h("label", {}, "Timeout (s)", timeout)),
    h("table", { id: "env" }, h("thead", {}, h("tr", {}, h("th", {}, "Variable"), h("th", {}, "Value"), h("th", {}))), envRows),
    only("UpdateFunctionConfiguration", h("div", { class: "row" }, h("button", { type: "button", onclick: () => addVar("", "") }, "Add variable"),
      h("button", { class: "primary", id: "cfg-save", onclick: save }, "Save"))));

  el.replaceChildren(h("div", { class: "grid2" }, section("Overview", overview), section("Configuration and environment", edit)),
    h("div", { id: "more" }, h("p", { class: "muted" }, "Loading versions, aliases, triggers, concurrency and instances…")));

  const safe = (p, empty) => p.catch((e) => ({ error: e.message, ...empty }));
  const [vers, aliases, triggers, reserved, prov, inst] = await Promise.all([
    safe(call("ListVersionByFunction", { ...ref, Limit: 100 }), { Versions: [] }),
    safe(call("ListAliases", { ...ref, Limit: "100" }), { Aliases: [] }),
    safe(call("ListTriggers", { ...ref, Limit: 100 }), { Triggers: [] }),
    safe(call("GetReservedConcurrencyConfig", ref), {}),
    safe(call("GetProvisionedConcurrencyConfig", ref), { Allocated: [] }),
    safe(call("ListInstances", ref), { Instances: [] }),
  ]);
  const routing = (a) => {
    const w = (a.RoutingConfig.AdditionalVersionWeights || []).map((x) => `${x.Version}: ${Math.round(x.Weight * 100)}%`);
    const m = (a.RoutingConfig.AddtionVersionMatchs || []).map((x) => `${x.Version} when ${x.Key} ${x.Method} ${x.Expression}`);
    return [...w, ...m].join(", ") || "—";
  };
  const versions = section("Versions",
    table("versions", ["Version", "Description", "Status", "Created"], vers.Versions.map((v) => h("tr", {}, h("td", {}, v.Version), h("td", {}, v.Description), h("td", {}, v.Status), h("td", {}, v.AddTime)))),
    only("PublishVersion", h("div", { class: "row" }, h("button", { onclick: () => act("Publish", "PublishVersion", ref, reload) }, "Publish a version of $LATEST"))));
  const aliasSec = section("Aliases and routing",
    table("aliases", ["Alias", "Version", "Additional routing", "Modified"], aliases.Aliases.map((a) => h("tr", {}, h("td", {}, a.Name), h("td", {}, a.FunctionVersion), h("td", {}, routing(a)), h("td", {}, a.ModTime)))));
  const tname = h("input", { id: "timer-name", placeholder: "name", size: 12 });
  const cron = h("input", { id: "timer-cron", placeholder: "0 */5 * * * * *", size: 20 });
  const tqual = h("input", { id: "timer-qualifier", value: "$DEFAULT", size: 10 });
  const targ = h("input", { id: "timer-argument", placeholder: "argument", size: 16 });
  const triggerSec = section("Triggers",
    table("triggers", ["Name", "Type", "Schedule", "Qualifier", "Enabled", ""], triggers.Triggers.map((t) => h("tr", {},
      h("td", {}, t.TriggerName), h("td", {}, t.Type), h("td", { class: "mono" }, t.TriggerDesc), h("td", {}, t.Qualifier), h("td", {}, t.Enable ? "yes" : "no"),
      h("td", {}, only("DeleteTrigger", h("button", { class: "danger", onclick: () => act("Remove trigger", "DeleteTrigger", { ...ref, TriggerName: t.TriggerName, Type: t.Type, Qualifier: t.Qualifier }, reload) }, "Remove")))))),
    only("CreateTrigger", h("div", { class: "row" }, h("label", {}, "Timer name", tname), h("label", {}, "Cron (7 fields)", cron), h("label", {}, "Qualifier", tqual), h("label", {}, "Argument", targ),
      h("button", { onclick: () => act("Add timer", "CreateTrigger", { ...ref, Type: "timer", TriggerName: tname.value.trim(), TriggerDesc: cron.value.trim(), Qualifier: tqual.value.trim(), CustomArgument: targ.value }, reload) }, "Add timer"))));
  const resMem = h("input", { id: "reserved-mem", type: "number", min: 0, step: 128, value: reserved.ReservedMem ?? "" });
  const provQual = h("input", { id: "prov-qualifier", placeholder: "version", size: 8 });
  const provNum = h("input", { id: "prov-num", type: "number", min: 1, value: 1 });
  const concurrency = section("Concurrency",
    h("p", {}, "Reserved: ", h("strong", {}, reserved.ReservedMem != null ? reserved.ReservedMem + " MB" : "none")),
    only("PutReservedConcurrencyConfig", h("div", { class: "row" }, h("label", {}, "Reserved memory (MB)", resMem),
      h("button", { onclick: () => act("Reserve", "PutReservedConcurrencyConfig", { ...ref, ReservedConcurrencyMem: Number(resMem.value) }, reload) }, "Set"),
      h("button", { onclick: () => act("Unreserve", "DeleteReservedConcurrencyConfig", ref, reload) }, "Remove"))),
    table("provisioned", ["Version", "Provisioned", "Ready", "Status", ""], (prov.Allocated || []).map((p) => h("tr", {},
      h("td", {}, p.Qualifier), h("td", {}, p.AllocatedProvisionedConcurrencyNum), h("td", {}, p.AvailableProvisionedConcurrencyNum), h("td", {}, p.Status + (p.StatusReason ? " — " + p.StatusReason : "")),
      h("td", {}, only("DeleteProvisionedConcurrencyConfig", h("button", { class: "danger", onclick: () => act("Remove provisioned", "DeleteProvisionedConcurrencyConfig", { ...ref, Qualifier: p.Qualifier }, reload) }, "Remove"))))), "No provisioned concurrency."),
    only("PutProvisionedConcurrencyConfig", h("div", { class: "row" }, h("label", {}, "Version", provQual), h("label", {}, "Instances", provNum),
      h("button", { onclick: () => act("Provision", "PutProvisionedConcurrencyConfig", { ...ref, Qualifier: provQual.value.trim(), VersionProvisionedConcurrencyNum: Number(provNum.value) }, reload) }, "Provision"))));
  const instBody = h("div", {});
  const drawInstances = (r) => instBody.replaceChildren(table("instances", ["Instance", "Version", "State", "Requests", "Provisioned", "Started", "Last used"],
    r.Instances.map((i) => h("tr", {}, h("td", { class: "mono" }, i.InstanceId), h("td", {}, i.Qualifier), h("td", {}, i.State), h("td", {}, i.Requests), h("td", {}, i.Provisioned ? "yes" : ""), h("td", {}, i.StartTime), h("td", {}, i.LastUsedTime))),
    r.error || "No live instances."));
  drawInstances(inst);
  every(5000, async () => drawInstances(await call("ListInstances", ref).catch((e) => ({ error: e.message, Instances: [] }))));
  $("#more").replaceChildren(h("div", { class: "grid2" }, versions, aliasSec), triggerSec, h("div", { class: "grid2" }, concurrency, section("Live instances", instBody)));
}

// ---- test panel ----

function testTab(el, { ns, name, params }) {
  const key = `scfd-event:${ns}/${name}`;
  const event = h("textarea", { id: "event", rows: 10, spellcheck: "false" });
  event.value = localStorage.getItem(key) || '{\n  "key": "value"\n}';
  const kind = h("select", { id: "invoke-type" }, h("option", { value: "RequestResponse" }, "Synchronous"), h("option", { value: "Event" }, "Asynchronous"));
  const qual = h("input", { id: "qualifier", value: params.get("qualifier") || "$LATEST", size: 10 });
  const err = h("p", { id: "event-error", class: "error" });
  const out = h("div", { id: "result" });
  const run = async () => {
    err.textContent = "";
    try {
      JSON.parse(event.value);
    } catch (e) {
      err.textContent = "The event is not valid JSON: " + e.message;
      return;
    }
    localStorage.setItem(key, event.value);
    out.replaceChildren(h("p", { class: "muted" }, "Invoking…"));
    try {
      const r = await call("Invoke", { Namespace: ns, FunctionName: name, Qualifier: qual.value.trim(), InvocationType: kind.value, ClientContext: event.value, LogType: "Tail" });
      const res = r.Result;
      const ok = res.InvokeResult === 0;
      const rid = res.FunctionRequestId;
      if (kind.value === "Event") {
        out.replaceChildren(h("p", { id: "result-status", class: "ok" }, "Queued"), h("p", {}, "Request id ", h("a", { href: fnHref(ns, name, "logs", { rid }) , class: "mono" }, rid)));
        return;
      }
      out.replaceChildren(
        h("p", { id: "result-status", class: ok ? "ok" : "bad" }, ok ? "Succeeded" : `Failed (${res.InvokeResult})`),
        h("dl", { class: "kv", id: "result-meta" },
          h("dt", {}, "Request id"), h("dd", {}, h("a", { href: fnHref(ns, name, "logs", { rid }), id: "result-request-id", class: "mono" }, rid)),
          h("dt", {}, "Duration"), h("dd", { id: "result-duration" }, res.Duration.toFixed(3) + " ms"),
          h("dt", {}, "Billed duration"), h("dd", { id: "result-billed" }, res.BillDuration + " ms"),
          h("dt", {}, "Memory"), h("dd", { id: "result-memory" }, (res.MemUsage / 1048576).toFixed(2) + " MB")),
        h("h2", {}, "Result"), h("pre", { id: "result-body" }, res.RetMsg || res.ErrMsg || ""),
        res.ErrMsg && res.RetMsg ? h("pre", { class: "error" }, res.ErrMsg) : "",
        h("h2", {}, "Log"), h("pre", { id: "result-log" }, res.Log || ""));
    } catch (e) {
      out.replaceChildren(h("p", { id: "result-status", class: "bad" }, e.message));
    }
  };
  el.replaceChildren(section("Test event",
    h("div", { class: "row" }, h("label", {}, "Invocation", kind), h("label", {}, "Qualifier", qual),
      h("button", { type: "button", onclick: () => { try { event.value = JSON.stringify(JSON.parse(event.value), null, 2); } catch (e) { err.textContent = "The event is not valid JSON: " + e.message; } } }, "Format"),
      only("Invoke", h("button", { class: "primary", id: "invoke", onclick: run }, "Invoke"))),
    event, err), section("Result", out));
}

// ---- logs ----

function pad(n) { return String(n).padStart(2, "0"); }
function apiTime(d) { // the server's "YYYY-MM-DD HH:MM:SS" (its zone is taken to be the browser's)
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function logsTab(el, { ns, name, params }) {
  const rid = h("input", { id: "logs-request-id", value: params.get("rid") || "", size: 38, placeholder: "request id" });
  const status = h("select", { id: "logs-status" }, [["", "All"], ["is0", "Succeeded"], ["not0", "Failed"], ["TimeLimitExceeded", "Timed out"], ["ResourceLimitExceeded", "Out of memory"], ["UserCodeException", "Code error"]].map(([v, l]) => h("option", { value: v }, l)));
  const range = h("select", { id: "logs-range" }, [["900", "Last 15 minutes"], ["3600", "Last hour"], ["86400", "Last day"], ["604800", "Last week"], ["", "Any time"]].map(([v, l]) => h("option", { value: v, selected: v === "86400" }, l)));
  const follow = h("input", { id: "logs-follow", type: "checkbox" });
  const list = h("div", { id: "logs-list" });
  const count = h("p", { class: "muted", id: "logs-count" });
  let open = new Set();
  const search = async () => {
    const q = { Namespace: ns, FunctionName: name, Limit: 50, FunctionRequestId: rid.value.trim() };
    if (status.value) q.Filter = { RetCode: status.value };
    if (range.value && !q.FunctionRequestId) q.StartTime = apiTime(new Date(Date.now() - Number(range.value) * 1000));
    let r;
    try {
      r = await call("GetFunctionLogs", q);
    } catch (e) {
      list.replaceChildren(h("p", { class: "error" }, e.message));
      return;
    }
    list.querySelectorAll("details[open]").forEach((d) => open.add(d.dataset.requestId));
    count.textContent = `${r.TotalCount} invocation(s)` + (r.TotalCount > r.Data.length ? `, the latest ${r.Data.length} shown` : "");
    list.replaceChildren(...r.Data.map((e) => {
      const lines = (e.Log || "").split("\n");
      const start = lines[0].startsWith("START") ? lines.shift() : `START RequestId: ${e.RequestId}`;
      const ok = e.RetCode === 0;
      return h("details", { class: "log", "data-request-id": e.RequestId, open: open.has(e.RequestId) || r.Data.length === 1 },
        h("summary", {}, h("span", { class: ok ? "ok" : "bad" }, ok ? "✓ " : "✗ "), e.StartTime, "  ", start, `  ${e.Duration.toFixed(1)} ms`),
        h("pre", {}, lines.join("\n")),
        e.RetMsg ? h("pre", { class: "ret" }, e.RetMsg) : null);
    }));
    if (!r.Data.length) list.replaceChildren(h("p", { class: "muted" }, "No invocations match."));
  };
  follow.addEventListener("change", () => {
    stops.forEach((s) => s());
    stops = [];
    if (follow.checked) every(2000, search);
  });
  el.replaceChildren(section("Logs",
    h("div", { class: "row" }, h("label", {}, "Request id", rid), h("label", {}, "Status", status), h("label", {}, "Time", range),
      h("label", {}, "Follow", follow), h("button", { class: "primary", id: "logs-search", onclick: search }, "Search")),
    count, list));
  return search();
}

// ---- monitoring ----

const CHARTS = [
  ["invocations", "Invocations and errors", [["Invocations", "Invocations", "#2563eb"], ["Errors", "Errors", "#c0362c"]]],
  ["duration", "Duration (ms)", [["DurationP50", "p50", "#2563eb"], ["DurationP95", "p95", "#b7791f"]]],
  ["coldstarts", "Cold starts", [["ColdStarts", "Cold starts", "#7c3aed"]]],
  ["coldduration", "Cold start duration (ms)", [["ColdStartAvg", "average", "#7c3aed"], ["ColdStartMax", "longest", "#db2777"]]],
  ["instances", "Concurrent instances (peak)", [["ConcurrentInstances", "Instances", "#17804a"]]],
  ["gbseconds", "GB-seconds", [["GBSeconds", "GB-s", "#0891b2"]]],
];

async function monitorTab(el, { ns, name, params }) {
  const period = h("select", { id: "period" }, [["hour", "Last hour"], ["day", "Last day"], ["week", "Last week"]].map(([v, l]) => h("option", { value: v, selected: v === (params.get("period") || "hour") }, l)));
  const charts = h("div", { class: "grid2", id: "charts" });
  const usage = h("div", { id: "usage" });
  const draw = async () => {
    const m = await call("GetFunctionMetrics", { Namespace: ns, FunctionName: name, Period: period.value });
    charts.replaceChildren();
    window.scfdCharts = {};
    const width = Math.max(360, Math.floor((el.clientWidth || 1100) / 2) - 40);
    for (const [id, title, series] of CHARTS) {
      const box = h("div", { class: "chart", id: "chart-" + id }, h("h3", {}, title));
      charts.append(box);
      const data = [m.Timestamps, ...series.map(([field]) => m[field])];
      window.scfdCharts[id] = new uPlot({
        width, height: 180,
        series: [{}, ...series.map(([, label, color]) => ({ label, stroke: color, width: 2, fill: color + "18", points: { show: m.Timestamps.length <= 70 } }))],
        scales: { y: { range: (u, min, max) => [0, Math.max(max || 0, id === "gbseconds" ? 0.001 : 1) * 1.1] } },
        axes: [{}, { size: 50 }],
      }, data, box);
    }
    const start = new Date(Date.now() - { hour: 3600e3, day: 86400e3, week: 7 * 86400e3 }[period.value]);
    const iso = start.toISOString().slice(0, 19).replace("T", " ");
    const u = await call("GetUsage", { Namespace: ns, FunctionName: name, StartTime: iso.slice(0, 14) + "00:00" });
    usage.replaceChildren(usageTable(u));
  };
  period.addEventListener("change", () => draw().catch((e) => toast(e.message, true)));
  el.replaceChildren(section("Monitoring", h("div", { class: "row" }, h("label", {}, "Range", period), h("button", { onclick: () => draw() }, "Refresh")), charts),
    section("Usage and cost in the range (whole hours, UTC)", usage));
  every(30000, () => draw().catch(() => {}));
  return draw();
}

function usageTable(u) {
  const row = (f, label) => h("tr", {}, h("td", {}, label || `${f.Namespace}/${f.FunctionName}`), h("td", {}, f.Invocations), h("td", {}, f.Errors),
    h("td", {}, f.GBSeconds.toFixed(3)), h("td", {}, f.ProvisionedIdleGBSeconds.toFixed(3)), h("td", {}, f.OutboundBytes), h("td", {}, "$" + f.Cost.toFixed(6)));
  return table("usage-table", ["Function", "Invocations", "Errors", "GB-s", "Idle provisioned GB-s", "Outbound bytes", "Cost"],
    [...u.Functions.map((f) => row(f)), Object.assign(row(u.Total, "Total (free tier deducted)"), { className: "total" })]);
}

async function usagePage(view) {
  const month = new Date();
  const start = `${month.getUTCFullYear()}-${pad(month.getUTCMonth() + 1)}-01 00:00:00`;
  const u = await call("GetUsage", { StartTime: start });
  view.replaceChildren(h("h1", {}, "Usage and cost this month (UTC)"), usageTable(u));
}

// ---- keys (the administrator's) ----

async function keysPage(view) {
  const r = await call("ListKeys", { Limit: 1000 });
  const reload = () => route();
  const secret = h("div", { id: "new-key" });
  const nss = h("input", { id: "key-namespaces", placeholder: "team, other", size: 24 });
  const role = h("select", { id: "key-role" }, ["FullControl", "InvokeAndRead", "ReadOnly"].map((x) => h("option", { value: x }, x)));
  const desc = h("input", { id: "key-description", placeholder: "description", size: 24 });
  const create = async () => {
    const Namespaces = nss.value.split(",").map((x) => x.trim()).filter(Boolean);
    const k = await act("Create key", "CreateKey", { Namespaces, Role: role.value, Description: desc.value });
    if (!k) return;
    await reload();
    // The secret is shown once, now, and never again.
    $("#new-key").replaceChildren(h("p", { class: "ok" }, "Copy the SecretKey now: it is not shown again."),
      h("dl", { class: "kv" }, h("dt", {}, "SecretId"), h("dd", { class: "mono", id: "new-key-id" }, k.Key.SecretId),
        h("dt", {}, "SecretKey"), h("dd", { class: "mono", id: "new-key-secret" }, k.Key.SecretKey)));
  };
  const status = (k, s) => act(s === "Enabled" ? "Enable key" : "Disable key", "UpdateKey", { SecretId: k.SecretId, Status: s }, reload);
  const rows = r.Keys.map((k) => h("tr", { "data-key": k.SecretId },
    h("td", { class: "mono" }, k.SecretId), h("td", {}, k.Namespaces.join(", ")), h("td", {}, k.Role), h("td", { class: "key-status" }, k.Status),
    h("td", {}, k.Description), h("td", {}, k.AddTime),
    h("td", {}, k.Status === "Enabled"
      ? h("button", { class: "key-disable", onclick: () => status(k, "Disabled") }, "Disable")
      : h("button", { class: "key-enable", onclick: () => status(k, "Enabled") }, "Enable"),
    h("button", { class: "danger key-delete", onclick: () => confirm(`Delete key ${k.SecretId}?`) && act("Delete key", "DeleteKey", { SecretId: k.SecretId }, reload) }, "Delete"))));
  view.replaceChildren(h("h1", {}, "Keys"),
    section("New key", h("div", { class: "row" }, h("label", {}, "Namespaces", nss), h("label", {}, "Role", role), h("label", {}, "Description", desc),
      h("button", { class: "primary", id: "key-create", onclick: create }, "Create")), secret),
    table("keys", ["SecretId", "Namespaces", "Role", "Status", "Description", "Created", ""], rows, "No keys but the administrator's."));
}

// ---- start ----

$("#signin-form").addEventListener("submit", signin);
$("#signout").addEventListener("click", signout);
window.addEventListener("hashchange", route);
fetch("session").then(async (r) => {
  if (!r.ok) return showSignin();
  session = await r.json();
  started();
});
