// The reporter's case page: status, progress in public words, the worker's public name, the
// due time; rating once closed; more photos while open. The case token comes from the link
// (#t=…, never sent to the server in a URL), this phone's saved cases, or typed in.
(function () {
  "use strict";
  var id = document.body.dataset.report, statusBox = document.getElementById("status");
  var WORDS = {
    register: "已受理 Received", dispatch: "已派给网格员 Sent to the grid worker", start: "处理中 Being handled",
    resolve: "已处置 Handled", close: "已结案 Closed", reopen: "重新处理 Reopened", reject: "不予受理 Not accepted",
    mark_duplicate: "与他人上报重复，合并处理 Same as another report: handled with it", escalate: "已上报上级 Passed up for action",
    photo: "照片已添加 Photo added", rate: "已评价 Rated", repair: "记录已更正 Record corrected"
  };
  var STATUS = {registered: "已登记 Registered", dispatched: "已派遣 Dispatched", in_progress: "处理中 In progress",
                resolved: "已处置 Resolved", closed: "已结案 Closed", rejected: "不予受理 Not accepted", duplicate: "重复 Duplicate"};
  function show(kind, text) { statusBox.className = kind; statusBox.textContent = text; }
  function saved() { try { return JSON.parse(localStorage.getItem("gridmap-cases") || "{}")[id]; } catch (e) { return null; } }
  var fromLink = /(?:^#|&)t=([^&]+)/.exec(location.hash || "");
  var token = fromLink ? decodeURIComponent(fromLink[1]) : saved();
  if (fromLink) {  // keep it on this phone, and out of the address bar
    try { var m = JSON.parse(localStorage.getItem("gridmap-cases") || "{}"); m[id] = token; localStorage.setItem("gridmap-cases", JSON.stringify(m)); } catch (e) {}
    history.replaceState(null, "", location.pathname);
  }
  function text(elId, value) { document.getElementById(elId).textContent = value == null ? "—" : value; }
  function load() {
    fetch("/api/v1/reports/" + id, {headers: {"X-Case-Token": token}})
      .then(function (r) { return r.json().then(function (j) { return [r.status, j]; }); })
      .then(function (res) {
        if (res[0] !== 200) {
          document.getElementById("unlock").hidden = false;
          show("err", (res[1].error && res[1].error.message) || "Error " + res[0]); return;
        }
        var c = res[1];
        document.getElementById("unlock").hidden = true; document.getElementById("case").hidden = false;
        text("c-status", STATUS[c.status] || c.status);
        text("c-grid", c.grid_code);
        text("c-worker", c.assigned_worker ? c.assigned_worker.public_name : null);
        text("c-due", c.due_at ? new Date(c.due_at).toLocaleString() : null);
        var ol = document.getElementById("c-trail"); ol.textContent = "";
        (c.trail || []).forEach(function (e) {
          var li = document.createElement("li");
          li.textContent = new Date(e.at).toLocaleString() + " · " + (WORDS[e.action] || e.action);
          ol.appendChild(li);
        });
        document.getElementById("rate").hidden = !(c.status === "closed" && c.rating == null);
        document.getElementById("add-photo").hidden = ["closed", "rejected", "duplicate"].indexOf(c.status) >= 0;
        if (c.rating != null) show("ok", "感谢评价 Thank you for rating: " + c.rating + "/5");
      })
      .catch(function () { show("err", "网络错误 Network error: reload the page."); });
  }
  document.getElementById("unlock").addEventListener("submit", function (ev) {
    ev.preventDefault(); token = document.getElementById("token").value.trim(); load();
  });
  document.getElementById("rate").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var picked = document.querySelector("input[name=rating]:checked");
    fetch("/api/v1/reports/" + id + "/rating", {method: "POST", headers: {"Content-Type": "application/json", "X-Case-Token": token},
      body: JSON.stringify({rating: +picked.value, comment: document.getElementById("comment").value || null})})
      .then(function (r) { return r.json().then(function (j) { return [r.status, j]; }); })
      .then(function (res) { if (res[0] === 200) load(); else show("err", (res[1].error && res[1].error.message) || "Error " + res[0]); });
  });
  document.getElementById("add-photo").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var fd = new FormData(); fd.append("photo", document.getElementById("photo").files[0]);
    fetch("/api/v1/reports/" + id + "/photos", {method: "POST", headers: {"X-Case-Token": token}, body: fd})
      .then(function (r) { return r.json().then(function (j) { return [r.status, j]; }); })
      .then(function (res) { if (res[0] === 201) { show("ok", "照片已上传 Photo uploaded"); load(); }
                             else show("err", (res[1].error && res[1].error.message) || "Error " + res[0]); });
  });
  if (token) load(); else document.getElementById("unlock").hidden = false;
})();
