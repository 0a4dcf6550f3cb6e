// The public report form: place the point (map, the phone's position, or the grid on the
// sign), file the report with an Idempotency-Key (a retry returns the same case and its
// case token), then upload the photos with that case token.
(function () {
  "use strict";
  var form = document.getElementById("report"), statusBox = document.getElementById("status");
  var category = document.getElementById("category"), sub = document.getElementById("subcategory");
  var data = JSON.parse(document.getElementById("gm-data").textContent);
  var position = null;  // {lon, lat, accuracy_m?}: WGS-84, as browsers and the map report it
  function newKey() {  // crypto.randomUUID needs https; getRandomValues works on plain http too
    var b = crypto.getRandomValues(new Uint8Array(16));
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
  }
  var requestKey = newKey();  // one per filled-in form: a double tap or a retry never files twice
  function show(kind, text) { statusBox.className = kind; statusBox.textContent = text; }
  function filterSubs() {
    for (var i = 0; i < sub.options.length; i++) {
      var o = sub.options[i];
      o.hidden = o.value !== "" && o.dataset.category !== category.value;
    }
    if (sub.selectedOptions[0] && sub.selectedOptions[0].hidden) sub.value = "";
  }
  category.addEventListener("change", filterSubs); filterSubs();

  var map = null, marker = null;
  function pin(lat, lon) {  // the draggable marker: moving it places the report there
    marker = L.marker([lat, lon], {draggable: true, keyboard: true, title: "report location"}).addTo(map);
    marker.on("dragend", function () { var p = marker.getLatLng(); place(p.lat, p.lng); });
  }
  function place(lat, lon, accuracy) {
    position = {lon: lon, lat: lat};
    if (accuracy) position.accuracy_m = Math.min(accuracy, 100000);
    if (map) {
      if (!marker) pin(lat, lon); else marker.setLatLng([lat, lon]);
    }
    document.getElementById("loc").firstChild.textContent = "已选位置 Location set (" + lat.toFixed(5) + ", " + lon.toFixed(5) + ") — ";
  }
  if (window.L && document.getElementById("map")) {
    map = L.map("map", {attributionControl: data.tiles.length > 0});
    data.tiles.forEach(function (t) { L.tileLayer(t.url, {attribution: t.attribution, subdomains: t.subdomains, maxZoom: t.max_zoom}).addTo(map); });
    if (data.outline) {
      var outline = L.geoJSON(data.outline, {style: {color: "#c0392b", weight: 2, fillOpacity: 0.08}, interactive: false}).addTo(map);
      map.fitBounds(outline.getBounds(), {padding: [8, 8]});
    } else if (data.bounds) {
      map.fitBounds([[data.bounds[1], data.bounds[0]], [data.bounds[3], data.bounds[2]]]);
    } else { map.setView([35, 105], 4); }
    map.on("click", function (e) { place(e.latlng.lat, e.latlng.lng); });
    if (form.dataset.gridLon) pin(+form.dataset.gridLat, +form.dataset.gridLon);  // the sign's grid, until moved
  }
  document.getElementById("locate").addEventListener("click", function () {
    if (!navigator.geolocation) { show("err", "此浏览器无法定位 This browser cannot share its location."); return; }
    navigator.geolocation.getCurrentPosition(function (p) {
      place(p.coords.latitude, p.coords.longitude, p.coords.accuracy);
      if (map) map.setView([p.coords.latitude, p.coords.longitude], Math.max(map.getZoom(), 16));
    }, function () { show("err", "无法获取位置 Location unavailable; tap the map instead."); },
    {enableHighAccuracy: true, timeout: 15000});
  });

  function uploadPhotos(id, token, files) {
    var done = 0, failed = 0;
    return files.reduce(function (chain, file) {
      return chain.then(function () {
        var fd = new FormData(); fd.append("photo", file, file.name);
        return fetch("/api/v1/reports/" + id + "/photos", {method: "POST", headers: {"X-Case-Token": token}, body: fd})
          .then(function (r) { if (r.status === 201) done++; else failed++; }, function () { failed++; });
      });
    }, Promise.resolve()).then(function () { return [done, failed]; });
  }
  function remember(id, token) {  // so the citizen finds the case again on this phone
    try {
      var mine = JSON.parse(localStorage.getItem("gridmap-cases") || "{}");
      mine[id] = token; localStorage.setItem("gridmap-cases", JSON.stringify(mine));
    } catch (e) { /* private mode: the link below still works */ }
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var loc = position || (form.dataset.gridLon ? {lon: +form.dataset.gridLon, lat: +form.dataset.gridLat} : null);
    if (!loc) { show("err", "请先在地图上选择位置 Please tap the map or share your location first."); return; }
    var files = Array.prototype.slice.call(document.getElementById("photos").files || [], 0, data.max_photos);
    var body = {category: category.value, description: document.getElementById("description").value,
                source: "citizen", location: loc, reported_at: new Date().toISOString()};
    if (sub.value) body.subcategory = sub.value;
    var name = document.getElementById("name").value.trim(), phone = document.getElementById("phone").value.trim();
    if (name || phone) body.reporter = {name: name || null, phone: phone || null};
    var send = document.getElementById("send"); send.disabled = true;
    fetch(form.dataset.intake, {method: "POST", headers: {"Content-Type": "application/json", "Idempotency-Key": requestKey},
                                body: JSON.stringify(body)})
      .then(function (r) { return r.json().then(function (j) { return [r.status, j]; }); })
      .then(function (res) {
        var s = res[0], j = res[1];
        if (s !== 201 && s !== 200) { show("err", (j.error && j.error.message) || ("Error " + s)); return; }
        var text = "已受理 Received. 编号 Case " + j.id + " " + (j.grid_code ? "· 网格 " + j.grid_code : "") +
                   (j.worker ? " · " + j.worker.public_name : "") + (j.due_at ? " · 期限 due " + new Date(j.due_at).toLocaleString() : "");
        show("ok", text);
        if (j.case_token) {
          remember(j.id, j.case_token);
          var p = document.createElement("p");
          p.appendChild(document.createTextNode("查询码 Case token: "));
          var code = document.createElement("code"); code.id = "case-token"; code.textContent = j.case_token; p.appendChild(code);
          var a = document.createElement("a"); a.id = "case-link"; a.href = "/cases/" + j.id + "#t=" + encodeURIComponent(j.case_token);
          a.textContent = " 查看进度 Follow this case"; p.appendChild(a);
          statusBox.appendChild(p);
          if (files.length) {
            uploadPhotos(j.id, j.case_token, files).then(function (r) {
              var q = document.createElement("p"); q.id = "photo-status";
              q.textContent = "照片 Photos: " + r[0] + " uploaded" + (r[1] ? ", " + r[1] + " failed" : "");
              statusBox.appendChild(q);
            });
          }
        }
        form.reset(); filterSubs(); position = null; requestKey = newKey();
      })
      .catch(function () { show("err", "网络错误，请重试 Network error: please send again (it will not be filed twice)."); })
      .finally(function () { send.disabled = false; });
  });
})();
