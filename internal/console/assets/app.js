// scfd console: a small page over the SCF API. Every action goes through
// POST /console/api with the session cookie and the CSRF token; the page
// builds its DOM with h() (no innerHTML), so data never becomes markup.
"use strict";

const $ = (sel, el = document) => el.querySelector(sel);
let session = null; // SessionInfo of /console/session
let settings = { GatewayURL: "", TimeZone: "UTC", UTCOffset: 0, Registry: "" }; // of /console/settings
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

// put replaces el's children with kids, flattened, without the empty ones.
function put(el, ...kids) {
  el.replaceChildren(...kids.flat(Infinity).filter((k) => k !== undefined && k !== null && k !== false));
}

class ApiError extends Error {
  constructor(code, message, requestId) {
    super(message);
    this.code = code;
    this.requestId = requestId;
  }
  get text() { return `${this.code}: ${this.message}`; }
}

// post sends a JSON POST to the console with the session's CSRF token.
async function post(path, body) {
  const r = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": session ? session.CSRFToken : "" },
    body: JSON.stringify(body || {}),
  });
  const j = await r.json();
  if (r.status === 401) {
    session = null;
    showSignin("Your session has ended: sign in again.");
    throw new ApiError(j.Error.Code, j.Error.Message);
  }
  if (j.Error) throw new ApiError(j.Error.Code, j.Error.Message);
  return j;
}

async function call(action, body) {
  const j = await post("api", { Action: action, Body: body || {} });
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

// showErrors puts err beside the field it is about (an element of form
// with data-field named by the code's last part), or in the form's
// .form-error; it stays until the next attempt.
function showErrors(form, err) {
  clearErrors(form);
  const field = (err.code || "").split(".").pop();
  const el = field && form.querySelector(`[data-field="${CSS.escape(field)}"]`);
  const msg = h("span", { class: "field-error", role: "alert" }, err.message || String(err));
  if (el) {
    el.classList.add("invalid");
    el.setAttribute("aria-invalid", "true");
    (el.closest("label") || el).after(msg);
    el.focus();
    return;
  }
  let box = form.querySelector(".form-error");
  if (!box) {
    box = h("p", { class: "form-error error", role: "alert" });
    form.append(box);
  }
  box.textContent = err.text || err.message || String(err);
}

function clearErrors(form) {
  form.querySelectorAll(".field-error").forEach((e) => e.remove());
  form.querySelectorAll(".invalid").forEach((e) => { e.classList.remove("invalid"); e.removeAttribute("aria-invalid"); });
  form.querySelectorAll(".form-error").forEach((e) => (e.textContent = ""));
}

// act runs an action for form, keeping a refusal beside its field.
async function act(form, what, action, body, then) {
  clearErrors(form);
  try {
    const r = await call(action, body);
    toast(what + ": done");
    if (then) await then(r);
    return r;
  } catch (e) {
    if (session) showErrors(form, e);
  }
}

function every(ms, fn) {
  const id = setInterval(fn, ms);
  stops.push(() => clearInterval(id));
}

// ---- times: one format, YYYY-MM-DD HH:MM:SS, in the server's zone ----

function pad(n) { return String(n).padStart(2, "0"); }
function zoneLabel() {
  const off = settings.UTCOffset || 0;
  const s = off < 0 ? "-" : "+";
  const o = off === 0 ? "UTC" : `UTC${s}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
  const name = settings.TimeZone;
  return name && name !== "Local" && name !== "UTC" ? `${name} (${o})` : o;
}
// inZone returns a Date whose UTC fields are ms's time in the server's zone.
function inZone(ms) { return new Date(ms + (settings.UTCOffset || 0) * 60e3); }
function fmtDate(d) { return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`; }
function fmtTime(ms, seconds = true) {
  const d = inZone(ms);
  return `${fmtDate(d)} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}` + (seconds ? `:${pad(d.getUTCSeconds())}` : "");
}
// utcString formats ms as the API's UTC "YYYY-MM-DD HH:MM:SS".
function utcString(ms) {
  const d = new Date(ms);
  return `${fmtDate(d)} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}
// zoneToMs reads "YYYY-MM-DD HH:MM[:SS]" or "YYYY-MM-DDTHH:MM" in the server's zone.
function zoneToMs(s) {
  const m = /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d))?/.exec(s || "");
  if (!m) return NaN;
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0)) - (settings.UTCOffset || 0) * 60e3;
}

// ---- sign-in ----

function showSignin(msg, calm) {
  stops.forEach((s) => s());
  stops = [];
  $("#signin").hidden = false;
  $("#view").hidden = true;
  $("#nav").hidden = true;
  $("#signout").hidden = true;
  $("#who").textContent = "";
  $("#zone").textContent = "";
  $("#signin-error").textContent = msg || "";
  $("#signin-error").className = calm ? "muted" : "error";
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
    $("#signin-error").className = "error";
    return;
  }
  session = j;
  started();
}

async function signout() {
  await fetch("logout", { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": session.CSRFToken }, body: "{}" });
  session = null;
  // Nothing of the session stays on screen, its last toast included.
  clearTimeout(toast.timer);
  $("#toast").hidden = true;
  showSignin("Signed out.", true);
}

async function started() {
  $("#signin").hidden = true;
  $("#view").hidden = false;
  $("#nav").hidden = false;
  $("#signout").hidden = false;
  $("#who").textContent = session.SecretId + (session.Admin ? " (administrator)" : " (" + session.Role + ": " + (session.Namespaces || []).join(", ") + ")");
  $("#nav-keys").hidden = !can("ListKeys");
  try {
    settings = await post("settings", {});
  } catch (e) {
    if (!session) return;
  }
  $("#zone").textContent = "Times in " + zoneLabel();
  route();
}

// ---- routing: #/ns/{ns}, #/new/{ns}, #/fn/{ns}/{name}/{tab}?k=v, #/usage ----

function parseHash() {
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query || "") };
}

function fnHref(ns, name, tab, params) {
  const q = params ? "?" + new URLSearchParams(params) : "";
  return `#/fn/${encodeURIComponent(ns)}/${encodeURIComponent(name)}/${tab || "config"}${q}`;
}
const nsHref = (ns) => "#/ns/" + encodeURIComponent(ns);

async function route() {
  if (!session) return;
  stops.forEach((s) => s());
  stops = [];
  window.scfdCharts = {};
  window.scfdDrawnWidth = undefined;
  const { parts, params } = parseHash();
  const view = $("#view");
  put(view, h("p", { class: "muted" }, "Loading…"));
  try {
    if (parts[0] === "fn" && parts.length >= 3) {
      await functionPage(view, parts[1], parts[2], parts[3] || "config", params);
    } else if (parts[0] === "new" && parts[1]) {
      await createPage(view, parts[1]);
    } else if (parts[0] === "usage") {
      await usagePage(view);
    } else if (parts[0] === "keys" && can("ListKeys")) {
      await keysPage(view);
    } else {
      await functionsPage(view, parts[0] === "ns" ? parts[1] : null);
    }
  } catch (e) {
    if (session) put(view, h("p", { class: "error" }, e.text || e.message));
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
  return h("td", { class: "status-" + fn.Status, "data-status": fn.Status },
    fn.Status,
    fn.StatusDesc ? h("div", { class: "muted" }, fn.StatusDesc) : null,
    (fn.StatusReasons || []).map((r) => h("div", { class: /^Warning/.test(r.ErrorCode) ? "warn" : "error" }, `${r.ErrorCode}: ${r.ErrorMessage}`)));
}

// landing picks the namespace to show first: default when it has
// functions, else the first that has some.
async function landing(names) {
  const counts = await Promise.all(names.slice(0, 50).map((n) => call("ListFunctions", { Namespace: n, Limit: 1 }).then((r) => r.TotalCount, () => 0)));
  const withFns = names.filter((n, i) => counts[i] > 0);
  if (withFns.includes("default")) return "default";
  return withFns[0] || (names.includes("default") ? "default" : names[0] || "default");
}

function scroll(el) { return h("div", { class: "scroll" }, el); }

async function functionsPage(view, ns) {
  const nss = await call("ListNamespaces", { Limit: 100 });
  const names = nss.Namespaces.map((n) => n.Name);
  ns = ns || (await landing(names));
  const list = await call("ListFunctions", { Namespace: ns, Limit: 100, Order: "ASC", Orderby: "FunctionName" });
  const details = await Promise.all(list.Functions.map((f) => call("GetFunction", { Namespace: ns, FunctionName: f.FunctionName }).catch(() => f)));
  const select = h("select", { id: "namespace", onchange: (e) => (location.hash = nsHref(e.target.value)) },
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
  const kids = [
    h("div", { class: "title" }, h("h1", {}, "Functions"), h("label", {}, "Namespace", select),
      only("CreateFunction", h("a", { class: "button primary", id: "new-function", href: "#/new/" + encodeURIComponent(ns) }, "Create a function"))),
    scroll(h("table", { id: "functions" },
      h("thead", {}, h("tr", {}, ["Name", "Status", "Type", "Image", "Digest", "Memory", "Timeout", "Modified"].map((c) => h("th", {}, c)))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 8, class: "muted" },
        "No functions in this namespace yet", can("CreateFunction") ? [": ", h("a", { href: "#/new/" + encodeURIComponent(ns) }, "create one"), "."] : "."))))),
    h("p", { class: "muted" }, `${list.TotalCount} function(s) in ${ns}.`),
  ];
  if (session.Admin) {
    const form = h("form", { novalidate: true, id: "ns-form", class: "card", onsubmit: (e) => e.preventDefault() });
    const name = h("input", { id: "ns-name", "data-field": "Namespace", placeholder: "team-a", size: 20, required: true, spellcheck: "false" });
    const desc = h("input", { id: "ns-description", "data-field": "Description", size: 30 });
    form.append(h("h2", {}, "New namespace"),
      h("div", { class: "row" }, h("label", {}, "Name", name), h("label", {}, "Description", desc),
        h("button", { class: "primary", id: "ns-create", onclick: () => act(form, "Create namespace", "CreateNamespace", { Namespace: name.value.trim(), Description: desc.value },
          () => (location.hash = nsHref(name.value.trim()))) }, "Create namespace")));
    kids.push(form);
  }
  put(view, ...kids);
  if (details.some((f) => /ing$/.test(f.Status))) every(2000, route); // pulls in progress
}

// ---- creating a function ----

const MEMORY_SIZES = [64, ...Array.from({ length: 24 }, (_, i) => (i + 1) * 128)];

function memorySelect(id, value) {
  return h("select", { id, "data-field": "MemorySize" }, MEMORY_SIZES.map((m) => h("option", { value: m, selected: m === Number(value) }, m + " MB")));
}

// envEditor edits environment variables as rows of key and value.
function envEditor(id, vars) {
  const rows = h("tbody", {});
  const add = (k, v) => rows.append(h("tr", {},
    h("td", {}, h("input", { class: "env-key", value: k, placeholder: "KEY", "aria-label": "Variable", spellcheck: "false" })),
    h("td", {}, h("input", { class: "env-value", value: v, placeholder: "value", "aria-label": "Value", spellcheck: "false" })),
    h("td", {}, h("button", { type: "button", onclick: (e) => e.target.closest("tr").remove() }, "Remove"))));
  (vars || []).forEach((v) => add(v.Key, v.Value));
  const el = h("div", {}, h("table", { id, class: "env", "data-field": "Environment" }, h("thead", {}, h("tr", {}, h("th", {}, "Variable"), h("th", {}, "Value"), h("th", {}))), rows),
    h("button", { type: "button", class: "add-var", onclick: () => add("", "") }, "Add variable"));
  el.value = () => [...rows.querySelectorAll("tr")].map((tr) => ({ Key: $(".env-key", tr).value.trim(), Value: $(".env-value", tr).value })).filter((v) => v.Key);
  return el;
}

async function createPage(view, ns) {
  const form = h("form", { novalidate: true, id: "create-form", class: "card", onsubmit: (e) => e.preventDefault() });
  const name = h("input", { id: "new-name", "data-field": "FunctionName", required: true, size: 24, spellcheck: "false", placeholder: "my-function" });
  const desc = h("input", { id: "new-description", "data-field": "Description", size: 40 });
  const source = h("select", { id: "new-source" }, h("option", { value: "registry" }, "The embedded registry"), h("option", { value: "uri" }, "An image URI"));
  const repo = h("select", { id: "new-repo", "data-field": "ImageUri" });
  const tag = h("select", { id: "new-tag" });
  const uri = h("input", { id: "new-uri", "data-field": "ImageUri", size: 50, spellcheck: "false", placeholder: "registry.example.com/ns/image:tag" });
  const type = h("select", { id: "new-type", "data-field": "Type" }, h("option", { value: "Event" }, "Event function"), h("option", { value: "HTTP" }, "Web function (HTTP)"));
  const mem = memorySelect("new-memory", 128);
  const timeout = h("input", { id: "new-timeout", "data-field": "Timeout", type: "number", min: 1, max: 900, value: 3, size: 5 });
  const conc = h("input", { id: "new-concurrency", "data-field": "MaxConcurrency", type: "number", min: 1, max: 100, value: 1, size: 5 });
  const env = envEditor("new-env", []);
  let repos = [];
  let registry = "";
  try {
    const r = await post("images", {});
    repos = r.Repositories || [];
    registry = r.Registry;
  } catch (e) {
    if (!session) return;
  }
  const fillTags = () => {
    const r = repos.find((x) => x.Name === repo.value);
    put(tag, ...(r ? r.Tags : []).map((t) => h("option", { value: t }, t)));
  };
  put(repo, ...repos.map((r) => h("option", { value: r.Name }, r.Name)));
  repo.addEventListener("change", fillTags);
  fillTags();
  const fromRegistry = h("div", { class: "row", id: "from-registry" }, h("label", {}, "Repository", repo), h("label", {}, "Tag", tag),
    repos.length ? null : h("p", { class: "muted" }, registry ? `Nothing pushed to ${registry} yet that this key may use: push an image (docker push ${registry}/${ns}/NAME:TAG), or give a URI.` : "This server has no embedded registry: give an image URI."));
  const fromURI = h("div", { class: "row", id: "from-uri", hidden: true }, h("label", { class: "wide" }, "Image URI", uri));
  const switchSource = () => {
    fromRegistry.hidden = source.value !== "registry";
    fromURI.hidden = source.value === "registry";
  };
  source.addEventListener("change", switchSource);
  if (!repos.length) source.value = "uri";
  switchSource();
  const create = () => {
    const image = source.value === "registry" ? (repo.value && tag.value ? `${registry}/${repo.value}:${tag.value}` : "") : uri.value.trim();
    const fn = name.value.trim();
    return act(form, "Create function", "CreateFunction", {
      Namespace: ns, FunctionName: fn, Description: desc.value, Type: type.value,
      MemorySize: Number(mem.value), Timeout: Number(timeout.value),
      Environment: { Variables: env.value() },
      InstanceConcurrencyConfig: { MaxConcurrency: Number(conc.value) },
      Code: { ImageConfig: { ImageType: "personal", ImageUri: image } },
    }, () => (location.hash = fnHref(ns, fn)));
  };
  form.append(
    h("div", { class: "row" }, h("label", {}, "Name", name), h("label", {}, "Type", type), h("label", {}, "Description", desc)),
    h("h2", {}, "Image"),
    h("div", { class: "row" }, h("label", {}, "From", source)), fromRegistry, fromURI,
    h("h2", {}, "Resources"),
    h("div", { class: "row" }, h("label", {}, "Memory", mem), h("label", {}, "Timeout (s)", timeout), h("label", {}, "Requests per instance", conc)),
    h("h2", {}, "Environment"), env,
    h("div", { class: "row actions" }, h("button", { class: "primary", id: "new-create", onclick: create }, "Create"), h("a", { href: nsHref(ns) }, "Cancel")));
  put(view, h("p", {}, h("a", { href: nsHref(ns) }, ns), " / "), h("h1", {}, "Create a function"), form);
}

// ---- a function's page ----

async function functionPage(view, ns, name, tab, params) {
  const fn = await call("GetFunction", { Namespace: ns, FunctionName: name });
  const tabs = [["config", "Configuration"], ["test", "Test"], ["logs", "Logs"], ["monitor", "Monitoring"]];
  const body = h("div", { id: "tab-" + tab });
  const deploying = /ing$/.test(fn.Status);
  put(view, 
    h("p", {}, h("a", { href: nsHref(ns) }, ns), " / "),
    h("div", { class: "title" }, h("h1", { id: "function-name" }, name), h("span", { id: "function-status", class: "status-" + fn.Status, "data-status": fn.Status }, fn.Status),
      fn.Type === "HTTP" ? h("span", { class: "badge" }, "web function") : null),
    deploying ? h("p", { id: "deploy-progress", class: "progress" }, h("span", { class: "spinner" }), fn.StatusDesc || "Preparing…") : null,
    (fn.StatusReasons || []).map((r) => h("p", { class: /^Warning/.test(r.ErrorCode) ? "warn status-reason" : "error status-reason" }, `${r.ErrorCode}: ${r.ErrorMessage}`)),
    h("nav", { class: "tabs" }, tabs.map(([t, label]) => h("a", { href: fnHref(ns, name, t), class: t === tab ? "on" : "", id: "tab-link-" + t }, label))),
    body);
  if (deploying) {
    every(1500, async () => {
      const f = await call("GetFunction", { Namespace: ns, FunctionName: name }).catch(() => null);
      if (!f) return;
      if (f.Status !== fn.Status) return route();
      const p = $("#deploy-progress");
      if (p) p.lastChild.textContent = f.StatusDesc || "Preparing…";
    });
  }
  const ctx = { ns, name, fn, params };
  if (tab === "test") return fn.Type === "HTTP" ? webTab(body, ctx) : testTab(body, ctx);
  if (tab === "logs") return logsTab(body, ctx);
  if (tab === "monitor") return monitorTab(body, ctx);
  return configTab(body, ctx);
}

function section(title, ...kids) {
  return h("section", { class: "card" }, h("h2", {}, title), kids);
}

function table(id, headers, rows, empty) {
  return scroll(h("table", { id },
    h("thead", {}, h("tr", {}, headers.map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: headers.length, class: "muted" }, empty || "None.")))));
}

// webURL is where the gateway serves a web function.
function webURL(ns, name) {
  return `${settings.GatewayURL}/${encodeURIComponent(ns)}/${encodeURIComponent(name)}/`;
}

// triggerURL is the URL of an apigw or http trigger, or "".
function triggerURL(t) {
  if (t.Type === "apigw") return t.TriggerDesc;
  if (t.Type !== "http") return "";
  try {
    return JSON.parse(t.TriggerDesc).Url || "";
  } catch (e) {
    return "";
  }
}

// qualifierSelect picks a version or an alias.
function qualifierSelect(id, versions, aliases, value, withDefault) {
  const opts = [];
  if (withDefault) opts.push(["$DEFAULT", "$DEFAULT (as an invocation without qualifier)"]);
  opts.push(["$LATEST", "$LATEST"]);
  versions.filter((v) => v.Version !== "$LATEST").forEach((v) => opts.push([v.Version, "version " + v.Version + (v.Description ? " — " + v.Description : "")]));
  aliases.filter((a) => !(withDefault && a.Name === "$DEFAULT")).forEach((a) => opts.push([a.Name, "alias " + a.Name + " → " + a.FunctionVersion]));
  return h("select", { id, "data-field": "Qualifier" }, opts.map(([v, l]) => h("option", { value: v, selected: v === value }, l)));
}

function versionSelect(id, versions, value, field) {
  return h("select", { id, "data-field": field || "FunctionVersion" }, versions.map((v) => h("option", { value: v.Version, selected: v.Version === value }, v.Version)));
}

async function configTab(el, { ns, name, fn }) {
  const ref = { Namespace: ns, FunctionName: name };
  const reload = () => route();
  const img = imageParts(fn);
  const kv = (pairs) => h("dl", { class: "kv" }, pairs.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", { class: ["Digest", "Image", "URL"].includes(k) ? "mono" : "" }, v)]));
  const overview = kv([
    ["Status", fn.Status + (fn.StatusDesc ? " — " + fn.StatusDesc : "")],
    ["Type", fn.Type === "HTTP" ? "Web function (HTTP)" : "Event function"],
    fn.Type === "HTTP" ? ["URL", h("a", { href: webURL(ns, name), id: "web-url", target: "_blank", rel: "noopener" }, webURL(ns, name))] : null,
    ["Image", img.image], ["Digest", img.digest],
    ["Memory", fn.MemorySize + " MB"], ["Timeout", fn.Timeout + " s"], ["Init timeout", fn.InitTimeout + " s"],
    ["Requests per instance", (fn.InstanceConcurrencyConfig && fn.InstanceConcurrencyConfig.MaxConcurrency) || 1],
    ["Description", fn.Description], ["Created", fn.AddTime], ["Modified", fn.ModTime],
  ]);

  const form = h("form", { novalidate: true, id: "cfg-form", onsubmit: (e) => e.preventDefault() });
  const env = envEditor("env", (fn.Environment && fn.Environment.Variables) || []);
  const desc = h("input", { id: "cfg-description", "data-field": "Description", value: fn.Description, size: 30 });
  const mem = memorySelect("cfg-memory", fn.MemorySize);
  const timeout = h("input", { id: "cfg-timeout", "data-field": "Timeout", type: "number", min: 1, max: 900, value: fn.Timeout, size: 5 });
  const save = () => act(form, "Save configuration", "UpdateFunctionConfiguration", {
    ...ref, Description: desc.value, MemorySize: Number(mem.value), Timeout: Number(timeout.value), Environment: { Variables: env.value() },
  }, reload);
  form.append(
    h("div", { class: "row" }, h("label", {}, "Description", desc), h("label", {}, "Memory", mem), h("label", {}, "Timeout (s)", timeout)),
    env, only("UpdateFunctionConfiguration", h("div", { class: "row actions" }, h("button", { class: "primary", id: "cfg-save", onclick: save }, "Save"))));

  put(el, h("div", { class: "grid2" }, section("Overview", overview), section("Configuration and environment", form)),
    h("div", { id: "more" }, h("p", { class: "muted" }, "Loading versions, aliases, triggers, concurrency and instances…")));

  const safe = (p, empty) => p.catch((e) => ({ error: e.message, ...empty }));
  const [vers, aliases, triggers, reserved, prov, inst] = await Promise.all([
    safe(call("ListVersionByFunction", { ...ref, Limit: 100 }), { Versions: [] }),
    safe(call("ListAliases", { ...ref, Limit: "100" }), { Aliases: [] }),
    safe(call("ListTriggers", { ...ref, Limit: 100, Order: "ASC" }), { Triggers: [] }),
    safe(call("GetReservedConcurrencyConfig", ref), {}),
    safe(call("GetProvisionedConcurrencyConfig", ref), { Allocated: [] }),
    safe(call("ListInstances", ref), { Instances: [] }),
  ]);
  const published = vers.Versions.filter((v) => v.Version !== "$LATEST");
  const allVersions = [{ Version: "$LATEST" }, ...published];

  // Versions: publish with a description, delete.
  const verForm = h("form", { novalidate: true, id: "version-form", onsubmit: (e) => e.preventDefault() });
  const verDesc = h("input", { id: "version-description", "data-field": "Description", size: 30, placeholder: "what changed" });
  verForm.append(
    table("versions", ["Version", "Description", "Status", "Created", ""], vers.Versions.map((v) => h("tr", { "data-version": v.Version },
      h("td", {}, v.Version), h("td", {}, v.Description), h("td", {}, v.Status), h("td", {}, v.AddTime),
      h("td", {}, v.Version === "$LATEST" ? "" : only("DeleteFunctionVersion", h("button", { type: "button", class: "danger", onclick: () => confirm(`Delete version ${v.Version}?`) && act(verForm, "Delete version", "DeleteFunctionVersion", { ...ref, Qualifier: v.Version }, reload) }, "Delete")))))),
    only("PublishVersion", h("div", { class: "row" }, h("label", {}, "Description", verDesc),
      h("button", { class: "primary", id: "publish", onclick: () => act(verForm, "Publish", "PublishVersion", { ...ref, Description: verDesc.value }, reload) }, "Publish $LATEST as a version"))));
  const versions = section("Versions", verForm);

  // Aliases: create, edit (version and one weighted additional version), delete.
  const aliasForm = h("form", { novalidate: true, id: "alias-form", onsubmit: (e) => e.preventDefault() });
  const aName = h("input", { id: "alias-name", "data-field": "Name", size: 12, placeholder: "prod", spellcheck: "false" });
  const aVersion = versionSelect("alias-version", allVersions, published.length ? published[published.length - 1].Version : "$LATEST");
  const aExtra = h("select", { id: "alias-extra", "data-field": "RoutingConfig" }, h("option", { value: "" }, "none"), allVersions.map((v) => h("option", { value: v.Version }, v.Version)));
  const aWeight = h("input", { id: "alias-weight", "data-field": "Weight", type: "number", min: 0, max: 100, step: 1, value: 10, size: 4 });
  const aDesc = h("input", { id: "alias-description", "data-field": "Description", size: 16 });
  let editing = null;
  const aSubmit = h("button", { class: "primary", id: "alias-save" }, "Create alias");
  const aCancel = h("button", { type: "button", hidden: true, onclick: () => { editing = null; aName.disabled = false; aName.value = ""; aSubmit.textContent = "Create alias"; aCancel.hidden = true; } }, "Cancel");
  const routing = (a) => {
    const w = (a.RoutingConfig.AdditionalVersionWeights || []).map((x) => `${x.Version}: ${Math.round(x.Weight * 100)}%`);
    const m = (a.RoutingConfig.AddtionVersionMatchs || []).map((x) => `${x.Version} when ${x.Key} ${x.Method} ${x.Expression}`);
    return [...w, ...m].join(", ") || "—";
  };
  aSubmit.addEventListener("click", () => {
    const weights = aExtra.value ? [{ Version: aExtra.value, Weight: Number(aWeight.value) / 100 }] : [];
    const body = { ...ref, Name: aName.value.trim(), FunctionVersion: aVersion.value, Description: aDesc.value, RoutingConfig: { AdditionalVersionWeights: weights } };
    act(aliasForm, editing ? "Update alias" : "Create alias", editing ? "UpdateAlias" : "CreateAlias", body, reload);
  });
  aliasForm.append(
    table("aliases", ["Alias", "Version", "Additional routing", "Description", ""], aliases.Aliases.map((a) => h("tr", { "data-alias": a.Name },
      h("td", {}, a.Name), h("td", {}, a.FunctionVersion), h("td", {}, routing(a)), h("td", {}, a.Description),
      h("td", { class: "buttons" },
        only("UpdateAlias", h("button", { type: "button", class: "alias-edit", onclick: () => {
          editing = a.Name;
          aName.value = a.Name;
          aName.disabled = true;
          aVersion.value = a.FunctionVersion;
          const w = (a.RoutingConfig.AdditionalVersionWeights || [])[0];
          aExtra.value = w ? w.Version : "";
          aWeight.value = w ? Math.round(w.Weight * 100) : 10;
          aDesc.value = a.Description || "";
          aSubmit.textContent = "Save alias";
          aCancel.hidden = false;
        } }, "Edit")),
        only("DeleteAlias", h("button", { type: "button", class: "danger", onclick: () => confirm(`Delete alias ${a.Name}?`) && act(aliasForm, "Delete alias", "DeleteAlias", { ...ref, Name: a.Name }, reload) }, "Delete")))))),
    only("CreateAlias", h("div", { class: "row" }, h("label", {}, "Alias", aName), h("label", {}, "Version", aVersion), h("label", {}, "Also route to", aExtra),
      h("label", {}, "Its weight (%)", aWeight), h("label", {}, "Description", aDesc), aSubmit, aCancel)));
  const aliasSec = section("Aliases and traffic", aliasForm);

  // Triggers: timers with a qualifier picker, their state, enable/disable, remove; URLs.
  const trigForm = h("form", { novalidate: true, id: "trigger-form", onsubmit: (e) => e.preventDefault() });
  const tname = h("input", { id: "timer-name", "data-field": "TriggerName", placeholder: "nightly", size: 12, spellcheck: "false" });
  const cron = h("input", { id: "timer-cron", "data-field": "TriggerDesc", placeholder: "0 */5 * * * * *", size: 18, spellcheck: "false" });
  const tqual = qualifierSelect("timer-qualifier", allVersions, aliases.Aliases, "$DEFAULT", true);
  const targ = h("input", { id: "timer-argument", "data-field": "CustomArgument", placeholder: "message", size: 14 });
  const state = (t) => t.AvailableStatus === "Unavailable"
    ? h("span", { class: "bad" }, "Cannot run: " + t.AvailableReason)
    : t.LastRunError ? h("span", { class: "warn" }, "Last run failed: " + t.LastRunError) : h("span", { class: "ok" }, "Ready");
  trigForm.append(
    table("triggers", ["Name", "Type", "Schedule or URL", "Qualifier", "Enabled", "State", "Last run", "Next run", ""], triggers.Triggers.map((t) => h("tr", { "data-trigger": t.TriggerName },
      h("td", {}, t.TriggerName), h("td", {}, t.Type),
      h("td", { class: "mono" }, t.Type === "timer" ? t.TriggerDesc : h("a", { href: triggerURL(t), target: "_blank", rel: "noopener" }, triggerURL(t))),
      h("td", {}, t.Qualifier), h("td", { class: "enabled" }, t.Enable ? "yes" : "no"), h("td", { class: "state" }, state(t)),
      h("td", { class: "last-run" }, t.LastRunTime || "—"), h("td", { class: "next-run" }, t.NextRunTime || "—"),
      h("td", { class: "buttons" },
        only("UpdateTriggerStatus", h("button", { type: "button", class: "trigger-toggle", onclick: () => act(trigForm, t.Enable ? "Disable trigger" : "Enable trigger", "UpdateTriggerStatus",
          { ...ref, TriggerName: t.TriggerName, Type: t.Type, Qualifier: t.Qualifier, Enable: t.Enable ? "CLOSE" : "OPEN" }, reload) }, t.Enable ? "Disable" : "Enable")),
        only("DeleteTrigger", h("button", { type: "button", class: "danger trigger-remove", onclick: () => confirm(`Remove trigger ${t.TriggerName}?`) && act(trigForm, "Remove trigger", "DeleteTrigger", { ...ref, TriggerName: t.TriggerName, Type: t.Type, Qualifier: t.Qualifier }, reload) }, "Remove")))))),
    only("CreateTrigger", h("div", { class: "row" }, h("label", {}, "Timer name", tname), h("label", {}, "Cron (7 fields, seconds first)", cron), h("label", {}, "Qualifier", tqual), h("label", {}, "Message", targ),
      h("button", { class: "primary", id: "timer-add", onclick: () => act(trigForm, "Add timer", "CreateTrigger", { ...ref, Type: "timer", TriggerName: tname.value.trim(), TriggerDesc: cron.value.trim(), Qualifier: tqual.value, CustomArgument: targ.value }, reload) }, "Add timer"))));
  const triggerSec = section("Triggers", trigForm);
  if (triggers.Triggers.some((t) => t.Enable && t.Type === "timer")) {
    every(5000, async () => {
      const r = await call("ListTriggers", { ...ref, Limit: 100, Order: "ASC" }).catch(() => null);
      if (!r) return;
      for (const t of r.Triggers) {
        const tr = $(`#triggers tr[data-trigger="${CSS.escape(t.TriggerName)}"]`);
        if (!tr) continue;
        $(".last-run", tr).textContent = t.LastRunTime || "—";
        $(".next-run", tr).textContent = t.NextRunTime || "—";
        $(".state", tr).replaceChildren(state(t));
      }
    });
  }

  // Concurrency.
  const concForm = h("form", { novalidate: true, id: "concurrency-form", onsubmit: (e) => e.preventDefault() });
  const resMem = h("input", { id: "reserved-mem", "data-field": "ReservedConcurrencyMem", type: "number", min: 0, step: 128, value: reserved.ReservedMem ?? "", size: 6 });
  const provQual = versionSelect("prov-qualifier", published, published.length ? published[published.length - 1].Version : "", "Qualifier");
  const provNum = h("input", { id: "prov-num", "data-field": "VersionProvisionedConcurrencyNum", type: "number", min: 1, value: 1, size: 4 });
  concForm.append(
    h("p", {}, "Reserved: ", h("strong", {}, reserved.ReservedMem != null ? reserved.ReservedMem + " MB" : "none")),
    only("PutReservedConcurrencyConfig", h("div", { class: "row" }, h("label", {}, "Reserved memory (MB)", resMem),
      h("button", { type: "button", onclick: () => act(concForm, "Reserve", "PutReservedConcurrencyConfig", { ...ref, ReservedConcurrencyMem: Number(resMem.value) }, reload) }, "Set"),
      h("button", { type: "button", onclick: () => act(concForm, "Unreserve", "DeleteReservedConcurrencyConfig", ref, reload) }, "Remove"))),
    table("provisioned", ["Version", "Provisioned", "Ready", "Status", ""], (prov.Allocated || []).map((p) => h("tr", {},
      h("td", {}, p.Qualifier), h("td", {}, p.AllocatedProvisionedConcurrencyNum), h("td", {}, p.AvailableProvisionedConcurrencyNum), h("td", {}, p.Status + (p.StatusReason ? " — " + p.StatusReason : "")),
      h("td", {}, only("DeleteProvisionedConcurrencyConfig", h("button", { type: "button", class: "danger", onclick: () => act(concForm, "Remove provisioned", "DeleteProvisionedConcurrencyConfig", { ...ref, Qualifier: p.Qualifier }, reload) }, "Remove"))))), "No provisioned concurrency."),
    !can("PutProvisionedConcurrencyConfig") ? null : published.length ? h("div", { class: "row" }, h("label", {}, "Version", provQual), h("label", {}, "Instances", provNum),
      h("button", { type: "button", onclick: () => act(concForm, "Provision", "PutProvisionedConcurrencyConfig", { ...ref, Qualifier: provQual.value, VersionProvisionedConcurrencyNum: Number(provNum.value) }, reload) }, "Provision"))
      : h("p", { class: "muted" }, "Publish a version to provision instances of it."));
  const concurrency = section("Concurrency", concForm);

  const instBody = h("div", {});
  const drawInstances = (r) => put(instBody, table("instances", ["Instance", "Version", "State", "Active", "Served", "Provisioned", "Started", "Last used"],
    r.Instances.map((i) => h("tr", {}, h("td", { class: "mono" }, i.InstanceId), h("td", {}, i.Qualifier), h("td", {}, i.State), h("td", {}, i.Requests), h("td", { class: "served" }, i.Served ?? 0),
      h("td", {}, i.Provisioned ? "yes" : ""), h("td", {}, i.StartTime), h("td", {}, i.LastUsedTime))),
    r.error || "No live instances."));
  drawInstances(inst);
  every(5000, async () => drawInstances(await call("ListInstances", ref).catch((e) => ({ error: e.message, Instances: [] }))));
  put($("#more"), h("div", { class: "grid2" }, versions, aliasSec), triggerSec, h("div", { class: "grid2" }, concurrency, section("Live instances", instBody)));
}

// ---- test panel of event functions ----

// pretty indents JSON text; other text is kept as it is.
function pretty(text) {
  if (text === undefined || text === null) return "";
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch (e) {
    return String(text);
  }
}

async function qualifiers(ns, name) {
  const ref = { Namespace: ns, FunctionName: name };
  const [v, a] = await Promise.all([
    call("ListVersionByFunction", { ...ref, Limit: 100 }).catch(() => ({ Versions: [] })),
    call("ListAliases", { ...ref, Limit: "100" }).catch(() => ({ Aliases: [] })),
  ]);
  return { versions: v.Versions, aliases: a.Aliases };
}

async function testTab(el, { ns, name, params }) {
  const lastKey = `scfd-event:${ns}/${name}`;
  const savedKey = `scfd-events:${ns}/${name}`;
  const saved = () => JSON.parse(localStorage.getItem(savedKey) || "{}");
  const event = h("textarea", { id: "event", rows: 10, spellcheck: "false" });
  event.value = localStorage.getItem(lastKey) || '{\n  "key": "value"\n}';
  const kind = h("select", { id: "invoke-type" }, h("option", { value: "RequestResponse" }, "Synchronous"), h("option", { value: "Event" }, "Asynchronous"));
  const { versions, aliases } = await qualifiers(ns, name);
  const qual = qualifierSelect("qualifier", versions, aliases, params.get("qualifier") || "$LATEST", false);
  const err = h("p", { id: "event-error", class: "error", role: "alert" });
  const out = h("div", { id: "result" });
  const pick = h("select", { id: "saved-events" });
  const evName = h("input", { id: "event-name", size: 16, placeholder: "name", spellcheck: "false" });
  const fillSaved = (sel) => {
    const names = Object.keys(saved()).sort();
    put(pick, h("option", { value: "" }, names.length ? "Saved events…" : "No saved events"), ...names.map((n) => h("option", { value: n, selected: n === sel }, n)));
  };
  fillSaved();
  pick.addEventListener("change", () => {
    const s = saved();
    if (pick.value in s) {
      event.value = s[pick.value];
      evName.value = pick.value;
    }
  });
  const saveEvent = () => {
    err.textContent = "";
    const n = evName.value.trim();
    if (!n) return (err.textContent = "Name the event to save it.");
    try {
      JSON.parse(event.value);
    } catch (e) {
      return (err.textContent = "The event is not valid JSON: " + e.message);
    }
    const s = saved();
    s[n] = event.value;
    localStorage.setItem(savedKey, JSON.stringify(s));
    fillSaved(n);
    toast(`Saved event ${n}`);
  };
  const deleteEvent = () => {
    const s = saved();
    delete s[pick.value];
    localStorage.setItem(savedKey, JSON.stringify(s));
    fillSaved();
  };
  const run = async () => {
    err.textContent = "";
    try {
      JSON.parse(event.value);
    } catch (e) {
      err.textContent = "The event is not valid JSON: " + e.message;
      return;
    }
    localStorage.setItem(lastKey, event.value);
    put(out, h("p", { class: "muted" }, "Invoking…"));
    try {
      const r = await call("Invoke", { Namespace: ns, FunctionName: name, Qualifier: qual.value, InvocationType: kind.value, ClientContext: event.value, LogType: "Tail" });
      const res = r.Result;
      const ok = res.InvokeResult === 0;
      const rid = res.FunctionRequestId;
      if (kind.value === "Event") {
        put(out, h("p", { id: "result-status", class: "ok" }, "Queued"), h("p", {}, "Request id ", h("a", { href: fnHref(ns, name, "logs", { rid }), class: "mono", id: "result-request-id" }, rid)));
        return;
      }
      put(out, 
        h("p", { id: "result-status", class: ok ? "ok" : "bad" }, ok ? "Succeeded" : `Failed (${res.InvokeResult})`),
        h("dl", { class: "kv", id: "result-meta" },
          h("dt", {}, "Request id"), h("dd", {}, h("a", { href: fnHref(ns, name, "logs", { rid }), id: "result-request-id", class: "mono" }, rid)),
          h("dt", {}, "Duration"), h("dd", { id: "result-duration" }, res.Duration.toFixed(3) + " ms"),
          h("dt", {}, "Billed duration"), h("dd", { id: "result-billed" }, res.BillDuration + " ms"),
          h("dt", {}, "Memory"), h("dd", { id: "result-memory" }, (res.MemUsage / 1048576).toFixed(2) + " MB")),
        ok ? [h("h2", {}, "Returned"), h("pre", { id: "result-body" }, pretty(res.RetMsg))]
          : [h("h2", {}, "Error"), h("pre", { id: "result-body", class: "error-body" }, pretty(res.ErrMsg || res.RetMsg)),
            res.RetMsg && res.ErrMsg && res.RetMsg !== res.ErrMsg ? [h("h2", {}, "Answer"), h("pre", {}, pretty(res.RetMsg))] : null],
        h("h2", {}, "Log"), h("pre", { id: "result-log" }, res.Log || ""));
    } catch (e) {
      if (session) put(out, h("p", { id: "result-status", class: "bad" }, e.text || e.message));
    }
  };
  put(el, section("Test event",
    h("div", { class: "row" }, h("label", {}, "Invocation", kind), h("label", {}, "Qualifier", qual),
      h("label", {}, "Saved events", pick), h("button", { type: "button", id: "event-delete", onclick: deleteEvent }, "Delete")),
    event, err,
    h("div", { class: "row" },
      h("button", { type: "button", onclick: () => { try { event.value = JSON.stringify(JSON.parse(event.value), null, 2); err.textContent = ""; } catch (e) { err.textContent = "The event is not valid JSON: " + e.message; } } }, "Format"),
      h("label", {}, "Save as", evName), h("button", { type: "button", id: "event-save", onclick: saveEvent }, "Save"),
      only("Invoke", h("button", { class: "primary", id: "invoke", onclick: run }, "Invoke")))),
    section("Result", out));
}

// ---- request tester of web functions ----

// waitLog reads a request's log entry, which is written within moments.
async function waitLog(ns, name, rid) {
  for (let i = 0; i < 10; i++) {
    const r = await call("GetFunctionLogs", { Namespace: ns, FunctionName: name, FunctionRequestId: rid, Limit: 1 }).catch(() => null);
    if (r && r.Data.length) return r.Data[0];
    await new Promise((ok) => setTimeout(ok, 300));
  }
  return null;
}

async function webTab(el, { ns, name, params }) {
  const { versions, aliases } = await qualifiers(ns, name);
  const qual = qualifierSelect("web-qualifier", versions, aliases, params.get("qualifier") || "$LATEST", false);
  const method = h("select", { id: "web-method" }, ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"].map((m) => h("option", { value: m }, m)));
  const path = h("input", { id: "web-path", value: "/", size: 30, spellcheck: "false" });
  const query = h("input", { id: "web-query", placeholder: "a=1&b=2", size: 20, spellcheck: "false" });
  const headers = h("textarea", { id: "web-headers", rows: 3, spellcheck: "false", placeholder: "Content-Type: application/json" });
  const body = h("textarea", { id: "web-body", rows: 6, spellcheck: "false" });
  const out = h("div", { id: "web-result" });
  const err = h("p", { class: "error", role: "alert", id: "web-error" });
  const url = h("span", { class: "mono", id: "web-target" });
  const showURL = () => {
    const q = qual.value === "$LATEST" ? "" : "@" + qual.value;
    url.textContent = `${settings.GatewayURL}/${ns}/${name}${q}/${path.value.replace(/^\//, "")}${query.value ? "?" + query.value : ""}`;
  };
  [qual, path, query].forEach((e) => e.addEventListener("input", showURL));
  qual.addEventListener("change", showURL);
  showURL();
  const send = async () => {
    err.textContent = "";
    const hs = [];
    for (const line of headers.value.split("\n")) {
      if (!line.trim()) continue;
      const i = line.indexOf(":");
      if (i <= 0) return (err.textContent = `The header line "${line}" is not "Name: value".`);
      hs.push({ Name: line.slice(0, i).trim(), Value: line.slice(i + 1).trim() });
    }
    put(out, h("p", { class: "muted" }, "Sending…"));
    let r;
    try {
      r = await post("web", { Namespace: ns, FunctionName: name, Qualifier: qual.value === "$LATEST" ? "" : qual.value, Method: method.value, Path: path.value, Query: query.value, Headers: hs, Body: body.value });
    } catch (e) {
      if (session) put(out, h("p", { class: "bad", id: "web-status" }, e.text || e.message));
      return;
    }
    const ok = r.Status < 400;
    const logBox = h("pre", { id: "web-log" }, "Reading the log…");
    put(out, 
      h("p", { id: "web-status", class: ok ? "ok" : "bad" }, `${r.Status}`),
      h("dl", { class: "kv" },
        h("dt", {}, "Time"), h("dd", { id: "web-duration" }, r.Duration.toFixed(1) + " ms"),
        h("dt", {}, "Request id"), h("dd", {}, r.RequestId ? h("a", { href: fnHref(ns, name, "logs", { rid: r.RequestId }), id: "web-request-id", class: "mono" }, r.RequestId) : "—")),
      h("h2", {}, "Headers"),
      table("web-headers-out", ["Name", "Value"], (r.Headers || []).map((x) => h("tr", {}, h("td", {}, x.Name), h("td", { class: "mono" }, x.Value)))),
      h("h2", {}, "Body" + (r.Truncated ? " (the first MB)" : "")), h("pre", { id: "web-response-body" }, pretty(r.Body)),
      h("h2", {}, "Log"), logBox);
    if (r.RequestId) {
      const e = await waitLog(ns, name, r.RequestId);
      logBox.textContent = e ? e.Log : "No log entry was found for this request.";
    } else {
      logBox.textContent = "The gateway answered without a request id.";
    }
  };
  put(el, section("Test request",
    h("p", {}, "The function answers at ", h("a", { href: webURL(ns, name), target: "_blank", rel: "noopener", id: "web-url", class: "mono" }, webURL(ns, name))),
    h("div", { class: "row" }, h("label", {}, "Qualifier", qual), h("label", {}, "Method", method), h("label", {}, "Path", path), h("label", {}, "Query", query)),
    h("p", { class: "muted" }, "Sends ", url),
    h("label", { class: "block" }, "Headers, one per line", headers),
    h("label", { class: "block" }, "Body", body), err,
    h("div", { class: "row" }, h("button", { class: "primary", id: "web-send", onclick: send }, "Send"))),
  section("Response", out));
}

// ---- logs ----

function logsTab(el, { ns, name, params }) {
  const rid = h("input", { id: "logs-request-id", value: params.get("rid") || "", size: 38, placeholder: "request id", spellcheck: "false" });
  const status = h("select", { id: "logs-status" }, [["", "All"], ["is0", "Succeeded"], ["not0", "Failed"], ["TimeLimitExceeded", "Timed out"], ["ResourceLimitExceeded", "Out of memory"], ["UserCodeException", "Code error"]].map(([v, l]) => h("option", { value: v }, l)));
  const range = h("select", { id: "logs-range" }, [["900", "Last 15 minutes"], ["3600", "Last hour"], ["86400", "Last day"], ["604800", "Last week"], ["", "Any time"]].map(([v, l]) => h("option", { value: v, selected: v === "86400" }, l)));
  const follow = h("input", { id: "logs-follow", type: "checkbox" });
  const list = h("div", { id: "logs-list" });
  const count = h("p", { class: "muted", id: "logs-count" });
  let open = new Set();
  const search = async () => {
    const q = { Namespace: ns, FunctionName: name, Limit: 50, FunctionRequestId: rid.value.trim() };
    if (status.value) q.Filter = { RetCode: status.value };
    // GetFunctionLogs' times are in the server's zone.
    // The window ends a little after now, so that what just ran is in it.
    if (range.value && !q.FunctionRequestId) {
      const end = Date.now() + 60e3;
      Object.assign(q, { StartTime: fmtTime(end - Number(range.value) * 1000), EndTime: fmtTime(end) });
    }
    let r;
    try {
      r = await call("GetFunctionLogs", q);
    } catch (e) {
      if (session) put(list, h("p", { class: "error" }, e.text || e.message));
      return;
    }
    list.querySelectorAll("details[open]").forEach((d) => open.add(d.dataset.requestId));
    count.textContent = `${r.TotalCount} invocation(s)` + (r.TotalCount > r.Data.length ? `, the latest ${r.Data.length} shown` : "");
    put(list, ...r.Data.map((e) => {
      const lines = (e.Log || "").split("\n");
      const start = lines[0].startsWith("START") ? lines.shift() : `START RequestId: ${e.RequestId}`;
      const ok = e.RetCode === 0;
      const web = e.HTTPMethod ? h("span", { class: "web-request" }, `${e.HTTPMethod} ${e.HTTPPath} → ${e.HTTPStatus}`) : null;
      // The log holds the answer (its Response line): it is not repeated.
      return h("details", { class: "log", "data-request-id": e.RequestId, open: open.has(e.RequestId) || r.Data.length === 1 },
        h("summary", {}, h("span", { class: ok ? "ok" : "bad" }, ok ? "✓ " : "✗ "), e.StartTime, "  ", web, web ? "  " : "", start, `  ${e.Duration.toFixed(1)} ms`),
        h("pre", {}, lines.join("\n")));
    }));
    if (!r.Data.length) put(list, h("p", { class: "muted" }, "No invocations match."));
  };
  follow.addEventListener("change", () => {
    stops.forEach((s) => s());
    stops = [];
    if (follow.checked) every(2000, search);
  });
  put(el, section("Logs",
    h("div", { class: "row" }, h("label", {}, "Request id", rid), h("label", {}, "Status", status), h("label", {}, "Time", range),
      h("label", { class: "check" }, follow, "Follow"), h("button", { class: "primary", id: "logs-search", onclick: search }, "Search")),
    count, list));
  return search();
}

// ---- date ranges ----

const PRESETS = [["hour", "Last hour", 3600], ["day", "Last day", 86400], ["week", "Last week", 7 * 86400], ["custom", "From … to …", 0]];

// rangePicker offers the presets and a custom range in the server's
// zone; get() answers { start, end } in ms and the preset's name.
function rangePicker(id, initial, onchange) {
  const preset = h("select", { id: id + "-preset" }, PRESETS.map(([v, l]) => h("option", { value: v, selected: v === initial }, l)));
  const now = Date.now();
  // Text, not datetime-local, whose format follows the browser's locale.
  const from = h("input", { id: id + "-from", value: fmtTime(now - 86400e3, false), "data-field": "StartTime", size: 16, placeholder: "YYYY-MM-DD HH:MM", spellcheck: "false" });
  const to = h("input", { id: id + "-to", value: fmtTime(now, false), "data-field": "EndTime", size: 16, placeholder: "YYYY-MM-DD HH:MM", spellcheck: "false" });
  const custom = h("span", { class: "row custom", hidden: initial !== "custom" }, h("label", {}, "From", from), h("label", {}, "To", to));
  preset.addEventListener("change", () => {
    custom.hidden = preset.value !== "custom";
    onchange();
  });
  from.addEventListener("change", onchange);
  to.addEventListener("change", onchange);
  const el = h("span", { class: "row range" }, h("label", {}, "Range", preset), custom);
  el.get = () => {
    if (preset.value === "custom") return { preset: "custom", start: zoneToMs(from.value), end: zoneToMs(to.value) };
    const span = PRESETS.find((p) => p[0] === preset.value)[2];
    const end = Date.now();
    return { preset: preset.value, start: end - span * 1000, end };
  };
  return el;
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

// lonePoints are the indexes of the values whose neighbours are gaps.
function lonePoints(vs) {
  const out = [];
  for (let i = 0; i < vs.length; i++) {
    if (vs[i] != null && (i === 0 || vs[i - 1] == null) && (i === vs.length - 1 || vs[i + 1] == null)) out.push(i);
  }
  return out;
}

// zoneDate is uPlot's tzDate: a Date whose local fields are the server's zone.
function zoneDate(ts) {
  const d = inZone(ts * 1000);
  return new Date(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds());
}

function axisLabels(span) {
  return (u, splits) => splits.map((v) => {
    if (v == null) return "";
    const s = fmtTime(v * 1000, false);
    return span > 1.5 * 86400 ? s.slice(5).replace(" ", "\n") : s.slice(11);
  });
}

async function monitorTab(el, { ns, name, params }) {
  const charts = h("div", { class: "charts", id: "charts" });
  const usage = h("div", { id: "usage" });
  const form = h("form", { novalidate: true, id: "monitor-form", onsubmit: (e) => e.preventDefault() });
  let picker;
  const draw = async () => {
    clearErrors(form);
    const { preset, start, end } = picker.get();
    if (isNaN(start)) return showErrors(form, new ApiError("InvalidParameterValue.StartTime", "write the start as YYYY-MM-DD HH:MM"));
    if (isNaN(end)) return showErrors(form, new ApiError("InvalidParameterValue.EndTime", "write the end as YYYY-MM-DD HH:MM"));
    if (!(end > start)) return showErrors(form, new ApiError("InvalidParameterValue.EndTime", "the end must come after the start"));
    const q = { Namespace: ns, FunctionName: name };
    if (preset === "custom") Object.assign(q, { StartTime: utcString(start), EndTime: utcString(end) });
    else q.Period = preset;
    let m;
    try {
      m = await call("GetFunctionMetrics", q);
    } catch (e) {
      if (session) showErrors(form, e);
      return;
    }
    const drawnFor = innerWidth;
    put(charts);
    window.scfdCharts = {};
    const span = (end - start) / 1000;
    // Every box first, so that the grid has its columns when they are measured.
    const boxes = CHARTS.map(([id, title]) => h("div", { class: "chart", id: "chart-" + id }, h("h3", {}, title)));
    charts.append(...boxes);
    for (const [n, [id, , series]] of CHARTS.entries()) {
      const box = boxes[n];
      const width = Math.max(240, box.clientWidth - 18);
      const data = [m.Timestamps, ...series.map(([field]) => m[field])];
      window.scfdCharts[id] = new uPlot({
        width, height: 180, tzDate: zoneDate,
        cursor: { sync: { key: "scfd-metrics" } },
        series: [{ value: (u, v) => (v == null ? "—" : fmtTime(v * 1000, false)) },
          ...series.map(([field, label, color]) => ({
            label, stroke: color, width: 2, fill: color + "18", spanGaps: false,
            // A value without neighbours draws no line: a marker shows it.
            points: { show: true, size: 6, fill: color, filter: (u, si) => lonePoints(u.data[si]) },
          }))],
        scales: {
          x: { time: true, range: () => [Math.floor(start / 1000), Math.ceil(end / 1000)] },
          y: { range: (u, min, max) => [0, Math.max(max || 0, id === "gbseconds" ? 0.001 : 1) * 1.1] },
        },
        axes: [{ values: axisLabels(span), size: span > 1.5 * 86400 ? 50 : 36 }, { size: 50 }],
      }, data, box);
    }
    // Usage is metered by whole UTC hours.
    const hour = 3600e3;
    try {
      const u = await call("GetUsage", { Namespace: ns, FunctionName: name, StartTime: utcString(Math.floor(start / hour) * hour), EndTime: utcString(Math.ceil(end / hour) * hour) });
      put(usage, usageTable(u));
    } catch (e) {
      if (session) put(usage, h("p", { class: "error" }, e.text || e.message));
    }
    window.scfdDrawnWidth = drawnFor;
  };
  // The plots are drawn to the page's width: again when it changes.
  let resized;
  const onResize = () => {
    clearTimeout(resized);
    resized = setTimeout(() => draw().catch(() => {}), 150);
  };
  window.addEventListener("resize", onResize);
  stops.push(() => { clearTimeout(resized); window.removeEventListener("resize", onResize); });
  picker = rangePicker("period", params.get("period") || "hour", () => draw());
  form.append(h("div", { class: "row" }, picker, h("button", { type: "button", id: "monitor-refresh", onclick: () => draw() }, "Refresh")));
  put(el, section("Monitoring", form, charts),
    section("Usage and cost in the range (whole hours)", usage));
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
  const out = h("div", { id: "usage" });
  const form = h("form", { novalidate: true, id: "usage-form", onsubmit: (e) => e.preventDefault() });
  const from = h("input", { id: "usage-from", "data-field": "StartTime", size: 10, placeholder: "YYYY-MM-DD", spellcheck: "false" });
  const to = h("input", { id: "usage-to", "data-field": "EndTime", size: 10, placeholder: "YYYY-MM-DD", spellcheck: "false" });
  const today = inZone(Date.now());
  from.value = `${today.getUTCFullYear()}-${pad(today.getUTCMonth() + 1)}-01`;
  to.value = fmtDate(today);
  const load = async () => {
    clearErrors(form);
    const start = zoneToMs(from.value + " 00:00");
    const end = zoneToMs(to.value + " 00:00") + 86400e3;
    if (isNaN(start)) return showErrors(form, new ApiError("InvalidParameterValue.StartTime", "write the first day as YYYY-MM-DD"));
    if (isNaN(end)) return showErrors(form, new ApiError("InvalidParameterValue.EndTime", "write the last day as YYYY-MM-DD"));
    if (!(end > start)) return showErrors(form, new ApiError("InvalidParameterValue.EndTime", "the last day must not come before the first"));
    const hour = 3600e3;
    try {
      const u = await call("GetUsage", { StartTime: utcString(Math.floor(start / hour) * hour), EndTime: utcString(Math.ceil(end / hour) * hour) });
      put(out, usageTable(u));
    } catch (e) {
      if (session) showErrors(form, e);
    }
  };
  from.addEventListener("change", load);
  to.addEventListener("change", load);
  form.append(h("div", { class: "row" }, h("label", {}, "First day", from), h("label", {}, "Last day", to), h("button", { type: "button", onclick: load }, "Show")));
  put(view, h("h1", {}, "Usage and cost"), form, out);
  return load();
}

// ---- keys (the administrator's) ----

async function keysPage(view) {
  const r = await call("ListKeys", { Limit: 1000 });
  const reload = () => route();
  const secret = h("div", { id: "new-key" });
  const form = h("form", { novalidate: true, id: "key-form", onsubmit: (e) => e.preventDefault() });
  const nss = h("input", { id: "key-namespaces", "data-field": "Namespaces", placeholder: "team, other", size: 24 });
  const role = h("select", { id: "key-role" }, ["FullControl", "InvokeAndRead", "ReadOnly"].map((x) => h("option", { value: x }, x)));
  const desc = h("input", { id: "key-description", placeholder: "description", size: 24 });
  const create = async () => {
    const Namespaces = nss.value.split(",").map((x) => x.trim()).filter(Boolean);
    const k = await act(form, "Create key", "CreateKey", { Namespaces, Role: role.value, Description: desc.value });
    if (!k) return;
    await reload();
    // The secret is shown once, now, and never again.
    $("#new-key").replaceChildren(h("p", { class: "ok" }, "Copy the SecretKey now: it is not shown again."),
      h("dl", { class: "kv" }, h("dt", {}, "SecretId"), h("dd", { class: "mono", id: "new-key-id" }, k.Key.SecretId),
        h("dt", {}, "SecretKey"), h("dd", { class: "mono", id: "new-key-secret" }, k.Key.SecretKey)));
  };
  form.append(h("div", { class: "row" }, h("label", {}, "Namespaces", nss), h("label", {}, "Role", role), h("label", {}, "Description", desc),
    h("button", { class: "primary", id: "key-create", onclick: create }, "Create")));
  const status = (k, s) => act(form, s === "Enabled" ? "Enable key" : "Disable key", "UpdateKey", { SecretId: k.SecretId, Status: s }, reload);
  const rows = r.Keys.map((k) => h("tr", { "data-key": k.SecretId },
    h("td", { class: "mono" }, k.SecretId), h("td", {}, k.Namespaces.join(", ")), h("td", {}, k.Role), h("td", { class: "key-status" }, k.Status),
    h("td", {}, k.Description), h("td", {}, k.AddTime),
    h("td", {}, k.Status === "Enabled"
      ? h("button", { class: "key-disable", onclick: () => status(k, "Disabled") }, "Disable")
      : h("button", { class: "key-enable", onclick: () => status(k, "Enabled") }, "Enable"),
    h("button", { class: "danger key-delete", onclick: () => confirm(`Delete key ${k.SecretId}?`) && act(form, "Delete key", "DeleteKey", { SecretId: k.SecretId }, reload) }, "Delete"))));
  view.replaceChildren(h("h1", {}, "Keys"),
    section("New key", form, secret),
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
