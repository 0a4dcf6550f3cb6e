// The worker's phone: the queue (GET /api/v1/me/cases, revalidated with its ETag so an
// unchanged queue costs a 304 and no body), a case page with the worker's actions, photo
// upload and "share my position". The sign-in is the HttpOnly staff cookie: the script never
// sees the token. What the queue held last is kept in sessionStorage (gone with the tab) so a
// dropped connection still shows it.
(function () {
  "use strict";
  var page = document.body.dataset.page, reportId = document.body.dataset.report;
  var data = JSON.parse(document.getElementById("gm-data").textContent);
  var statusBox = document.getElementById("status");
  var STATUS = {registered: "已登记 Registered", dispatched: "已派遣 Dispatched", in_progress: "处置中 In progress",
                resolved: "已处置 Resolved", closed: "已结案 Closed", rejected: "不予受理 Rejected", duplicate: "重复 Duplicate"};
  var WORDS = {register: "登记 Registered", dispatch: "派遣 Dispatched", start: "开始处置 Started", resolve: "处置完成 Resolved",
               close: "结案 Closed", reopen: "重新处置 Reopened", reject: "不予受理 Rejected", mark_duplicate: "重复 Duplicate",
               escalate: "升级 Escalated", photo: "添加照片 Photo added", rate: "评价 Rated", repair: "更正 Corrected",
               transfer: "转办 Transferred", accept: "部门受理 Accepted", "return": "退回 Returned"};
  var LEVELS = ["网格 grid", "社区 community", "街道 street", "区县 district", "市指挥中心 city centre"];
  var QUEUE_KEY = "gridmap-worker-queue";

  function show(kind, text) { statusBox.className = kind; statusBox.textContent = text; }
  function clear() { statusBox.className = ""; statusBox.textContent = ""; }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function when(iso) {
    if (!iso) return "—";
    var d = new Date(iso);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }
  function left(iso) {  // "还剩 3 小时 3 h left" / "超期 2 小时 2 h overdue"
    if (!iso) return "";
    var h = (new Date(iso) - Date.now()) / 3600000, a = Math.abs(h);
    var n = a >= 47.5 ? Math.round(a / 24) + " 天" : a * 60 >= 59.5 ? Math.round(a) + " 小时" : Math.max(1, Math.round(a * 60)) + " 分钟";
    var en = n.replace(" 天", " d").replace(" 小时", " h").replace(" 分钟", " min");
    return h >= 0 ? "还剩 " + n + " · " + en + " left" : "超期 " + n + " · " + en + " overdue";
  }
  function newKey() {
    var b = crypto.getRandomValues(new Uint8Array(16));
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
  }
  function signIn() { location.href = "/worker/login?next=" + encodeURIComponent(location.pathname); }
  function message(res) { return (res[1] && res[1].error && res[1].error.message) || "错误 Error " + res[0]; }
  function api(method, url, body, headers) {
    var opts = {method: method, headers: headers || {}, cache: "no-store", credentials: "same-origin"};
    if (body instanceof FormData) opts.body = body;
    else if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
    return fetch(url, opts).then(function (r) {
      if (r.status === 401) { signIn(); throw new Error("signed out"); }
      if (r.status === 304) return [304, null, r];
      return r.json().then(function (j) { return [r.status, j, r]; }, function () { return [r.status, null, r]; });
    });
  }

  // The queue, revalidated: the tag of what we hold goes in If-None-Match; a 304 means it is current.
  function held() { try { return JSON.parse(sessionStorage.getItem(QUEUE_KEY) || "null"); } catch (e) { return null; } }
  function loadQueue() {
    var mine = held();
    return api("GET", "/api/v1/me/cases", undefined, mine ? {"If-None-Match": mine.etag} : {}).then(function (res) {
      if (res[0] === 304 && mine) return {queue: mine.body, fresh: false};
      if (res[0] !== 200) throw new Error(message(res));
      try { sessionStorage.setItem(QUEUE_KEY, JSON.stringify({etag: res[2].headers.get("ETag"), body: res[1]})); } catch (e) {}
      return {queue: res[1], fresh: true};
    }, function (err) {
      if (err.message === "signed out") throw err;
      if (mine) { show("err", "网络不可用，显示上次的列表 Offline: showing the last list."); return {queue: mine.body, fresh: false, offline: true}; }
      throw new Error("网络错误 Network error");
    });
  }
  function title(c) {
    return c.category_name.zh + (c.subcategory_name ? " · " + c.subcategory_name.zh : "");
  }
  function titleEn(c) { return c.subcategory_name ? c.subcategory_name.en : c.category_name.en; }
  function badges(c, box) {
    box.textContent = "";
    box.appendChild(el("span", "badge", STATUS[c.status] || c.status));
    if (c.overdue) box.appendChild(el("span", "badge overdue", "超期 Overdue"));
    if (c.escalation_level > 0) box.appendChild(el("span", "badge level", "升级 L" + c.escalation_level));
    if (c.department) box.appendChild(el("span", "badge dept", "部门 " + c.department));
  }
  function whoAmI(q) {
    document.getElementById("me").textContent = (q.public_name || "网格员 worker") + (q.department ? " · " + q.department : "");
  }

  // ---- the queue page ----
  function renderQueue(q) {
    whoAmI(q);
    document.getElementById("count").textContent = "共 " + q.total + " 件待办 · " + q.total + " open";
    var ol = document.getElementById("queue"); ol.textContent = "";
    if (!q.cases.length) { ol.appendChild(el("li", "sub", "暂无待办工单 Nothing to do.")); return; }
    q.cases.forEach(function (c) {
      var li = el("li", c.overdue ? "overdue" : ""), a = el("a");
      li.dataset.id = c.id; a.href = "/worker/cases/" + c.id;
      var b = el("div"); badges(c, b); a.appendChild(b);
      a.appendChild(el("div", "title", title(c) + " "));
      a.lastChild.appendChild(el("span", "en", titleEn(c)));
      if (c.description) a.appendChild(el("div", "desc", c.description));
      a.appendChild(el("div", "meta", "期限 Due " + when(c.due_at) + (c.due_at ? " · " + left(c.due_at) : "")));
      a.appendChild(el("div", "meta", (c.place || c.grid_code || "") + (c.photo_count ? " · 照片 photos " + c.photo_count : "")));
      li.appendChild(a); ol.appendChild(li);
    });
  }
  function refreshQueue() {
    return loadQueue().then(function (r) { renderQueue(r.queue); if (!r.offline) clear(); return r.queue; },
                            function (e) { if (e.message !== "signed out") show("err", e.message); });
  }
  function sharePosition(workerId) {
    if (!navigator.geolocation) { show("err", "此浏览器无法定位 This browser cannot share its position."); return; }
    show("info", "正在定位… Locating…");
    navigator.geolocation.getCurrentPosition(function (p) {
      // The browser's position is WGS-84 already: no crs to send.
      api("PUT", "/api/v1/workers/" + workerId + "/position",
          {lon: p.coords.longitude, lat: p.coords.latitude, at: new Date(p.timestamp || Date.now()).toISOString()})
        .then(function (res) {
          if (res[0] === 200) show("ok", "位置已分享 Position shared (" + res[1].lat.toFixed(5) + ", " + res[1].lon.toFixed(5) + ")");
          else show("err", message(res));
        }, function () { show("err", "网络错误 Network error: try again."); });
    }, function () { show("err", "无法获取位置 Position unavailable (allow location for this site)."); },
    {enableHighAccuracy: true, timeout: 15000, maximumAge: 60000});
  }
  if (page === "queue") {
    var current = null;
    refreshQueue().then(function (q) { current = q; });
    document.getElementById("refresh").addEventListener("click", function () { refreshQueue().then(function (q) { current = q || current; }); });
    document.getElementById("share").addEventListener("click", function () {
      var q = current || (held() || {}).body;
      if (q) sharePosition(q.worker_id); else show("err", "请先刷新 Refresh first.");
    });
    setInterval(function () { if (!document.hidden) refreshQueue().then(function (q) { current = q || current; }); }, 60000);
    document.querySelector("form.out").addEventListener("submit", function () { try { sessionStorage.removeItem(QUEUE_KEY); } catch (e) {} });
    return;
  }

  // ---- the case page ----
  var queue = null, item = null, map = null, point = null;
  function text(id, value) { document.getElementById(id).textContent = value == null || value === "" ? "—" : value; }
  function drawMap(c) {
    if (!window.L || map) return;
    map = L.map("map", {attributionControl: data.tiles.length > 0, zoomControl: true});
    data.tiles.forEach(function (t) { L.tileLayer(t.url, {attribution: t.attribution, subdomains: t.subdomains, maxZoom: t.max_zoom}).addTo(map); });
    var ll = [c.lat, c.lon];
    if (c.location_precision_m) L.circle(ll, {radius: c.location_precision_m, color: "#c62828", weight: 1}).addTo(map);
    point = L.circleMarker(ll, {radius: 9, color: "#fff", weight: 2, fillColor: "#c62828", fillOpacity: 1}).addTo(map);
    map.setView(ll, 16);
    if (c.grid_code) {  // the grid's outline, when the API knows the area
      api("GET", "/api/v1/grids/" + encodeURIComponent(c.grid_code)).then(function (res) {
        if (res[0] === 200 && res[1] && res[1].geometry) {
          var g = L.geoJSON(res[1], {style: {color: "#1f4e79", weight: 2, fillOpacity: 0.06}, interactive: false}).addTo(map);
          map.fitBounds(g.getBounds(), {padding: [10, 10], maxZoom: 17});
          point.bringToFront();
        }
      }, function () {});
    }
  }
  function renderCase(r) {
    var c = item || named || {};
    document.getElementById("case").hidden = false;
    var name = c.category_name ? title(c) : r.category + (r.subcategory ? " · " + r.subcategory : "");
    text("c-title", name);
    if (c.category_name) document.getElementById("c-title").appendChild(el("span", "en", " " + titleEn(c)));
    badges({status: r.status, overdue: r.overdue, escalation_level: r.escalation_level, department: c.department},
           document.getElementById("c-badges"));
    text("c-status", STATUS[r.status] || r.status);
    text("c-due", r.due_at ? when(r.due_at) + " · " + left(r.due_at) : null);
    text("c-level", LEVELS[r.escalation_level] || r.escalation_level);
    text("c-place", (c.place && c.place.indexOf(r.grid_code) < 0 ? c.place + " · " : "") + (r.grid_code || "") +
         (r.location_precision_m ? " (约 ~" + r.location_precision_m + " m)" : ""));
    var rep = document.getElementById("c-reporter"); rep.textContent = "";
    if (r.reporter && (r.reporter.name || r.reporter.phone)) {
      rep.appendChild(document.createTextNode((r.reporter.name || "") + " "));
      if (r.reporter.phone) { var tel = el("a", null, r.reporter.phone); tel.href = "tel:" + r.reporter.phone.replace(/[^0-9+]/g, ""); rep.appendChild(tel); }
    } else rep.textContent = "—";
    text("c-photos", String((r.photos || []).length));
    text("c-description", r.description);
    var ol = document.getElementById("c-trail"); ol.textContent = "";
    (r.trail || []).forEach(function (e) {
      var li = el("li", null, when(e.at) + " · " + (WORDS[e.action] || e.action) + " · " + e.actor);
      if (e.note) li.appendChild(el("div", "sub", e.note));
      ol.appendChild(li);
    });
    var allowed = item ? item.allowed : [];
    document.getElementById("act-accept").hidden = allowed.indexOf("accept") < 0;
    document.getElementById("act-start").hidden = allowed.indexOf("start") < 0;
    document.getElementById("return").hidden = allowed.indexOf("return") < 0;
    document.getElementById("resolve").hidden = allowed.indexOf("resolve") < 0;
    var transfer = document.getElementById("transfer");
    if (allowed.indexOf("transfer") >= 0 && transfer.hidden) { transfer.hidden = false; loadDepartments(); }
    else if (allowed.indexOf("transfer") < 0) transfer.hidden = true;
    document.getElementById("add-photo").hidden = !(item && item.may_add_photo);
    drawMap({lat: r.lat, lon: r.lon, location_precision_m: r.location_precision_m, grid_code: r.grid_code});
  }
  var named = null;  // this case as the queue last listed it: its names, once it has left the queue
  function loadCase() {
    ((held() || {}).body || {cases: []}).cases.forEach(function (c) { if (c.id === reportId) named = c; });
    return loadQueue().then(function (res) {
      queue = res.queue; whoAmI(queue);
      item = null;
      queue.cases.forEach(function (c) { if (c.id === reportId) item = named = c; });
      return api("GET", "/api/v1/reports/" + reportId);
    }).then(function (res) {
      if (res[0] !== 200) { show("err", message(res)); return; }
      renderCase(res[1]);
      if (!item) show("info", "此工单不在您的待办中 This case is not in your queue: nothing to do here.");
    }, function (e) { if (e.message !== "signed out") show("err", e.message); });
  }
  function loadDepartments() {
    var select = document.getElementById("department");
    api("GET", "/api/v1/departments").then(function (res) {
      if (res[0] !== 200) { document.getElementById("transfer").hidden = true; return; }
      var list = Array.isArray(res[1]) ? res[1] : (res[1].departments || res[1].items || []);
      // Department staff hand a case over inside their department only (the rest goes back with "return").
      if (queue && queue.department) list = list.filter(function (d) { return d.code === queue.department; });
      select.textContent = "";
      select.appendChild(el("option", null, "— 请选择 choose —")); select.firstChild.value = "";
      list.forEach(function (d) {
        var o = el("option", null, d.name_zh + " · " + d.name_en); o.value = d.code; select.appendChild(o);
      });
    }, function () {});
  }
  function move(action, extra, button) {
    var body = {action: action, actor: (queue && queue.public_name) || "网格员 worker"};
    Object.keys(extra || {}).forEach(function (k) { body[k] = extra[k]; });
    button.disabled = true; show("info", "提交中… Sending…");
    // One key per tap: a retry after a dropped answer is not applied twice.
    var key = button.dataset.key || (button.dataset.key = newKey());
    return api("POST", "/api/v1/reports/" + reportId + "/transitions", body, {"Idempotency-Key": key}).then(function (res) {
      button.disabled = false;
      if (res[0] === 200) {
        delete button.dataset.key;
        show("ok", "已" + (WORDS[action] || action) + " Done: " + action);
        return loadCase().then(function () { show("ok", (WORDS[action] || action) + " ✓"); });
      }
      delete button.dataset.key;
      show("err", message(res) + (res[1] && res[1].error && res[1].error.allowed ? " (" + res[1].error.allowed.join(", ") + ")" : ""));
    }, function () { button.disabled = false; show("err", "网络错误，请重试 Network error: tap again (it will not be applied twice)."); });
  }
  document.getElementById("act-start").addEventListener("click", function (ev) { move("start", {}, ev.currentTarget); });
  document.getElementById("act-accept").addEventListener("click", function (ev) { move("accept", {}, ev.currentTarget); });
  document.getElementById("return-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    move("return", {note: document.getElementById("return-note").value.trim()}, document.getElementById("act-return"));
  });
  document.getElementById("resolve").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var note = document.getElementById("resolve-note").value.trim();
    move("resolve", note ? {note: note} : {}, document.getElementById("act-resolve"));
  });
  document.getElementById("transfer-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    move("transfer", {department: document.getElementById("department").value,
                      note: document.getElementById("transfer-note").value.trim()}, document.getElementById("act-transfer"));
  });
  document.getElementById("add-photo").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var file = document.getElementById("photo").files[0], button = document.getElementById("send-photo");
    if (!file) return;
    var fd = new FormData(); fd.append("photo", file, file.name);
    button.disabled = true; show("info", "上传中… Uploading…");
    api("POST", "/api/v1/reports/" + reportId + "/photos", fd).then(function (res) {
      button.disabled = false;
      if (res[0] === 201) {
        document.getElementById("photo").value = "";
        return loadCase().then(function () { show("ok", "照片已上传 Photo uploaded"); });
      }
      show("err", message(res));
    }, function () { button.disabled = false; show("err", "网络错误 Network error: try again."); });
  });
  loadCase();
})();
