// The dispatcher's desk for one case (staff signed in at /maps/login; the cookie rides along
// on every request): facts, photos, the point and its grid on a map, the due time, the trail,
// and buttons for the actions the API says this role may take now (`your_actions`). Every
// value goes into the page as text (textContent), never as markup.
(function () {
  "use strict";
  var id = document.body.dataset.report;
  var data = JSON.parse(document.getElementById("gm-data").textContent);
  var statusBox = document.getElementById("status");
  var ACTIONS = {
    dispatch: "派遣 Dispatch", start: "开始处理 Start", resolve: "处置完成 Resolve", close: "结案 Close",
    reopen: "重新处理 Reopen", reject: "不予受理 Reject", mark_duplicate: "标记重复 Mark duplicate",
    escalate: "上报督办 Escalate", transfer: "转办 Transfer", accept: "签收 Accept", "return": "退回 Return"
  };
  var TRAIL = {register: "登记 Registered", photo: "照片 Photo", rate: "评价 Rated", repair: "更正 Corrected"};
  var STATUS = {registered: "已登记 Registered", dispatched: "已派遣 Dispatched", in_progress: "处理中 In progress",
                resolved: "已处置 Resolved", closed: "已结案 Closed", rejected: "不予受理 Rejected", duplicate: "重复 Duplicate"};
  var NOTE_REQUIRED = {transfer: true, "return": true};
  var categories = {}, report = null, map = null, layers = {}, outlineOf = null, current = null;

  function $(elId) { return document.getElementById(elId); }
  function show(kind, message) { statusBox.className = kind; statusBox.textContent = message; }
  function text(elId, value) { $(elId).textContent = value == null || value === "" ? "—" : value; }
  function when(iso) { return iso ? new Date(iso).toLocaleString() : "—"; }
  function span(h) {  // hours as "3 h 20 min"
    var m = Math.round(Math.abs(h) * 60), d = Math.floor(m / 1440), hh = Math.floor((m % 1440) / 60);
    return (d ? d + " d " : "") + (d || hh ? hh + " h " : "") + (m % 60) + " min";
  }
  function api(method, url, body, key) {
    var headers = {Accept: "application/json"};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (key) headers["Idempotency-Key"] = key;
    return fetch(url, {method: method, headers: headers, credentials: "same-origin",
                       body: body === undefined ? undefined : JSON.stringify(body)})
      .then(function (r) { return r.json().catch(function () { return {}; }).then(function (j) { return [r.status, j]; }); });
  }
  function errorText(res) {
    var e = res[1] && res[1].error;
    if (!e) return "Error " + res[0];
    var extra = e.allowed ? " (allowed: " + e.allowed.join(", ") + ")" : "";
    var fields = (e.fields || []).map(function (f) { return f.field + ": " + f.message; }).join("; ");
    return e.message + (fields ? " — " + fields : "") + extra;
  }
  function newKey() {
    if (window.crypto && crypto.randomUUID) return "desk-" + crypto.randomUUID();
    return "desk-" + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }
  function el(tag, cls, content) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (content != null) e.textContent = content;
    return e;
  }

  // --- the map -----------------------------------------------------------------------------
  function ensureMap() {
    if (map) return;
    map = L.map("map", {attributionControl: data.tiles.length > 0});
    data.tiles.forEach(function (t) {
      L.tileLayer(t.url, {attribution: t.attribution, subdomains: t.subdomains, maxZoom: t.max_zoom}).addTo(map);
    });
    L.control.scale({imperial: false}).addTo(map);
  }
  function drawCase(c) {
    ensureMap();
    if (layers.point) map.removeLayer(layers.point);
    var here = [c.lat, c.lon];
    layers.point = c.location_precision_m
      ? L.circle(here, {radius: c.location_precision_m, color: "#b2182b", weight: 1, fillOpacity: 0.15})
      : L.circleMarker(here, {radius: 8, color: "#fff", weight: 2, fillColor: "#b2182b", fillOpacity: 1, className: "gm-case-point"});
    layers.point.addTo(map).bindTooltip("本案 this case");
    $("map-note").textContent = c.location_precision_m
      ? "位置为约 " + c.location_precision_m + " m 网格中心 shown at its ~" + c.location_precision_m + " m cell" : "";
    var key = c.grid_code + "@" + c.generation;
    if (c.grid_code && outlineOf !== key) {
      outlineOf = key;
      api("GET", "/api/v1/grids/" + encodeURIComponent(c.grid_code) + (c.generation ? "?generation=" + c.generation : ""))
        .then(function (res) {
          if (res[0] !== 200 || !res[1].geometry) { map.setView(here, 16); return; }
          if (layers.outline) map.removeLayer(layers.outline);
          layers.outline = L.geoJSON(res[1].geometry, {style: {color: "#2b83ba", weight: 2, fillOpacity: 0.06},
                                                      interactive: false, className: "gm-grid-outline"}).addTo(map);
          map.fitBounds(layers.outline.getBounds().extend(here), {padding: [20, 20]});
        });
    } else if (!c.grid_code) {
      map.setView(here, 16);
    }
  }
  function drawCandidates(list) {
    if (layers.candidates) map.removeLayer(layers.candidates);
    layers.candidates = L.layerGroup(list.map(function (d) {
      return L.circleMarker([d.lat, d.lon], {radius: 6, color: "#fff", weight: 1, fillColor: "#e66101", fillOpacity: 0.9})
        .bindTooltip(d.id.slice(0, 8) + " · " + Math.round(d.distance_m) + " m")
        .on("click", function () { pickCandidate(d.id); });
    })).addTo(map);
    if (list.length) {  // close enough to tell apart
      var bounds = L.latLngBounds([[report.lat, report.lon]]);
      list.forEach(function (d) { bounds.extend([d.lat, d.lon]); });
      map.fitBounds(bounds, {padding: [40, 40], maxZoom: 17, animate: false});
    }
  }

  // --- the case ----------------------------------------------------------------------------
  function categoryName(code) { return categories[code] ? code + " " + categories[code] : code; }
  function render(c) {
    report = c;
    $("desk").hidden = false;
    var badge = $("c-status");
    badge.textContent = STATUS[c.status] || c.status;
    badge.className = "badge s-" + c.status;
    var due = $("c-due"), left = c.due_at ? (new Date(c.due_at) - Date.now()) / 3.6e6 : null;
    due.className = "due" + (c.overdue ? " overdue" : "");
    due.textContent = c.due_at == null ? "" : c.overdue ? "已超期 Overdue by " + span(left)
      : ["closed", "rejected", "duplicate", "resolved"].indexOf(c.status) >= 0 ? "期限 Due " + when(c.due_at)
      : "剩余 Due in " + span(left);
    text("c-category", categoryName(c.category) + (c.subcategory ? " / " + categoryName(c.subcategory) : ""));
    text("c-description", c.description);
    text("c-source", c.source);
    text("c-reported", when(c.reported_at));
    text("c-grid", c.grid_code ? c.grid_code + (c.match ? " (" + c.match + ")" : "") : null);
    text("c-worker", c.assigned_worker ? c.assigned_worker.public_name + " · " + c.assigned_worker.role + " #" + c.assigned_worker.id : null);
    text("c-department", c.department_code ? c.department_code
      + (c.department_accepted_at ? " · 已签收 accepted " + when(c.department_accepted_at) : " · 待签收 not accepted yet")
      + (c.return_count ? " · 退回 returned " + c.return_count + "×" : "")
      : c.return_count ? "退回 returned " + c.return_count + "×" : null);
    text("c-escalation", c.escalation_level ? "第 " + c.escalation_level + " 级 level " + c.escalation_level
      + (c.escalated_to ? " → " + c.escalated_to : "") : "0");
    $("c-due-full").textContent = when(c.due_at) + (c.overdue ? " · 已超期 OVERDUE" : "");
    $("c-due-full").className = c.overdue ? "overdue" : "";
    text("c-reporter", c.reporter ? [c.reporter.name, c.reporter.phone].filter(Boolean).join(" · ") || "匿名 anonymous"
      : "(你的角色不可见 not shown to your role)");
    var dup = $("c-duplicate"); dup.textContent = "";
    if (c.duplicate_of) {
      var a = el("a", null, c.duplicate_of); a.href = "/cases/" + encodeURIComponent(c.duplicate_of); dup.appendChild(a);
    } else dup.textContent = "—";
    renderPhotos(c.photos || []);
    renderTrail(c.trail || []);
    renderActions(c.your_actions || []);
    drawCase(c);
  }
  function renderPhotos(photos) {
    var box = $("c-photos"); box.textContent = "";
    if (!photos.length) { box.textContent = "—"; return; }
    photos.forEach(function (p, i) {
      var a = el("a"); a.href = p; a.target = "_blank"; a.rel = "noopener";
      if (p.charAt(0) === "/" && p.charAt(1) !== "/") {  // stored here; a link elsewhere is never loaded by the page
        var img = el("img"); img.src = p; img.alt = "photo " + (i + 1); img.loading = "lazy"; a.appendChild(img);
      } else a.textContent = "外部照片 external photo " + (i + 1);
      box.appendChild(a);
    });
  }
  function details(d) {
    return Object.keys(d || {}).filter(function (k) { return k !== "request_key" && d[k] != null; }).map(function (k) {
      var v = d[k];
      if (k === "due_at" && v) v = when(v);
      return k + ": " + (v !== null && typeof v === "object" ? JSON.stringify(v) : v);
    }).join(" · ");
  }
  function renderTrail(events) {
    var body = $("c-trail"); body.textContent = "";
    events.forEach(function (e) {
      var tr = el("tr", "ev-" + e.action);
      [when(e.at), ACTIONS[e.action] || TRAIL[e.action] || e.action,
       (e.from_status ? e.from_status + " → " : "") + (e.to_status || ""), e.actor, e.note || "", details(e.data)]
        .forEach(function (v) { tr.appendChild(el("td", null, v)); });
      body.appendChild(tr);
    });
  }
  function renderActions(actions) {
    var box = $("action-buttons"); box.textContent = "";
    $("no-actions").hidden = actions.length > 0;
    actions.forEach(function (a) {
      var b = el("button", "act", ACTIONS[a] || a); b.type = "button"; b.dataset.action = a;
      b.addEventListener("click", function () { openAction(a); });
      box.appendChild(b);
    });
    if (current && actions.indexOf(current.action) < 0) closeForm();
  }

  // --- pickers -----------------------------------------------------------------------------
  function option(select, value, label) { var o = el("option", null, label); o.value = value; select.appendChild(o); }
  function loadWorkers() {
    var select = $("worker"); select.textContent = "";
    option(select, "", "载入中 loading…");
    return api("GET", "/api/v1/dispatch?lon=" + report.lon + "&lat=" + report.lat).then(function (res) {
      select.textContent = "";
      if (res[0] !== 200) { option(select, "", errorText(res)); return; }
      var d = res[1], seen = {};
      function add(w, label) {
        if (!w || seen[w.id]) return;
        seen[w.id] = true; option(select, String(w.id), label + ": " + w.public_name + " #" + w.id);
      }
      if (d.responsible) add(d.responsible.worker, "责任网格员 grid's worker (" + (d.responsible.area_code || "") + ")");
      if (d.backup) add(d.backup.worker, "备岗 backup");
      (d.nearest_on_duty || []).forEach(function (w) { add(w, "附近在岗 on duty, " + Math.round(w.distance_m) + " m"); });
      (d.escalation_chain || []).forEach(function (c) { add(c.worker, "上级 " + c.level); });
      if (report.assigned_worker && seen[report.assigned_worker.id]) select.value = String(report.assigned_worker.id);
      if (!select.options.length) option(select, "", "无可派人员 nobody to send to");
    });
  }
  function loadDepartments() {
    var select = $("department"); select.textContent = "";
    return api("GET", "/api/v1/departments").then(function (res) {
      if (res[0] !== 200) { option(select, "", errorText(res)); return; }
      var list = Array.isArray(res[1]) ? res[1] : (res[1].departments || res[1].items || []);
      if (data.department) list = list.filter(function (d) { return d.code === data.department; });  // its own staff
      list.forEach(function (d) {
        var owns = (d.categories || []).some(function (c) { return c === report.category || c === report.subcategory; });
        option(select, d.code, d.code + " " + d.name_zh + " · " + d.name_en + (owns ? " ★" : ""));
        if (owns && !select.dataset.picked) { select.value = d.code; select.dataset.picked = "1"; }
      });
    });
  }
  function pickCandidate(cid) {
    $("duplicate-of").value = cid;
    document.querySelectorAll("#candidates input").forEach(function (i) { i.checked = i.value === cid; });
  }
  function loadCandidates() {
    var box = $("candidates"); box.textContent = "载入中 loading…";
    return api("GET", "/api/v1/reports/" + id + "/duplicates").then(function (res) {
      box.textContent = "";
      if (res[0] !== 200) { box.textContent = errorText(res); return; }
      var list = res[1].candidates;
      if (!list.length) box.textContent = "附近 " + res[1].radius_m + " m 内没有 none within " + res[1].radius_m + " m";
      list.forEach(function (d) {
        var label = el("label", "cand"), input = el("input");
        input.type = "radio"; input.name = "candidate"; input.value = d.id;
        input.addEventListener("change", function () { pickCandidate(d.id); });
        label.appendChild(input);
        label.appendChild(el("span", "cand-id", d.id.slice(0, 8)));
        label.appendChild(el("span", null, " " + Math.round(d.distance_m) + " m · " + (STATUS[d.status] || d.status) + " · "
          + when(d.reported_at) + (d.suggested ? " · 上报时提示 suggested at intake" : "")));
        if (d.description) label.appendChild(el("span", "cand-text", d.description));
        var open = el("a", null, "打开 open"); open.href = "/cases/" + d.id; open.target = "_blank"; label.appendChild(open);
        box.appendChild(label);
      });
      drawCandidates(list);
    });
  }

  // --- the action form ---------------------------------------------------------------------
  function closeForm() {
    current = null; $("action-form").hidden = true;
    if (layers.candidates) {
      map.removeLayer(layers.candidates); layers.candidates = null;
      if (layers.outline) map.fitBounds(layers.outline.getBounds().extend([report.lat, report.lon]), {padding: [20, 20], animate: false});
    }
  }
  function targetKind() { return document.querySelector("input[name=target]:checked").value; }
  function syncTarget() {
    var dept = targetKind() === "department";
    $("department").hidden = !dept; $("af-worker").hidden = dept;
  }
  function openAction(action) {
    current = {action: action, key: newKey(), level: report.escalation_level};
    $("af-title").textContent = ACTIONS[action] || action;
    $("af-worker").hidden = action !== "dispatch";
    $("af-target").hidden = action !== "transfer";
    $("af-duplicate").hidden = action !== "mark_duplicate";
    $("af-level").hidden = action !== "escalate";
    $("note").value = ""; $("duplicate-of").value = "";
    $("note").required = !!NOTE_REQUIRED[action];
    $("note-label").textContent = NOTE_REQUIRED[action] ? "理由 Reason (必填 required)" : "备注 Note";
    if (action === "dispatch") loadWorkers();
    if (action === "transfer") { loadWorkers(); loadDepartments(); syncTarget(); }
    if (action === "mark_duplicate") loadCandidates();
    if (action === "escalate") {
      $("af-level").textContent = "现为第 " + report.escalation_level + " 级，将升至第 " + (report.escalation_level + 1)
        + " 级 now at level " + report.escalation_level + ", goes to level " + (report.escalation_level + 1);
    }
    $("action-form").hidden = false;
    $("af-send").disabled = false;
  }
  document.querySelectorAll("input[name=target]").forEach(function (i) { i.addEventListener("change", syncTarget); });
  $("af-cancel").addEventListener("click", closeForm);
  $("action-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (!current) return;
    var a = current.action, body = {action: a, actor: (data.actor || data.role).slice(0, 100)};
    var note = $("note").value.trim();
    if (note) body.note = note;
    if (NOTE_REQUIRED[a] && !note) { show("err", "请填写理由 A reason is required."); return; }
    if (a === "dispatch" && $("worker").value) body.worker_id = +$("worker").value;
    if (a === "transfer") {
      if (targetKind() === "department") body.department = $("department").value;
      else body.worker_id = +$("worker").value;
    }
    if (a === "mark_duplicate") {
      body.duplicate_of = $("duplicate-of").value.trim();
      if (!body.duplicate_of) { show("err", "请选择原案件 Pick the original case."); return; }
    }
    if (a === "escalate") body.expected_level = current.level;
    $("af-send").disabled = true;
    api("POST", "/api/v1/reports/" + id + "/transitions", body, current.key).then(function (res) {
      $("af-send").disabled = false;
      if (res[0] === 200) {
        show("ok", "已完成 Done: " + (ACTIONS[a] || a));
        closeForm(); render(res[1]);
      } else {
        show("err", errorText(res));
        if (res[0] === 409) load();  // the case moved on: show it as it is now
      }
    }, function () { $("af-send").disabled = false; show("err", "网络错误 Network error: try again (it is safe)."); });
  });

  function load() {
    return api("GET", "/api/v1/reports/" + id).then(function (res) {
      if (res[0] !== 200) { show("err", errorText(res)); return; }
      render(res[1]);
    }, function () { show("err", "网络错误 Network error: reload the page."); });
  }
  api("GET", "/api/v1/categories").then(function (res) {
    if (res[0] === 200) res[1].forEach(function (c) {
      categories[c.code] = c.name_zh + " " + c.name_en;
      (c.subcategories || []).forEach(function (s) { categories[s.code] = s.name_zh + " " + s.name_en; });
    });
  }, function () {}).then(load);
})();
