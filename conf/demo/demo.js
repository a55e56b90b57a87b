/* The demo platform's pages: what a student's browser would do, through lessongated. */
"use strict";
var demo = (function () {
  var CLOSE = {
    1000: "normal 正常", 1001: "going away 离开", 1006: "connection lost 连接中断",
    4001: "lesson time is up (lesson_limit) 本节课时间已到，请休息",
    4002: "training ends at 21:00 (day_end) 今日培训已结束"
  };

  function $(id) { return document.getElementById(id); }

  function log(id, text) {
    var el = $(id);
    el.textContent += new Date().toLocaleTimeString() + "  " + text + "\n";
    el.scrollTop = el.scrollHeight;
  }

  function showHeaders(res) {
    var lines = [res.status + " " + res.statusText];
    res.headers.forEach(function (v, k) { lines.push(k + ": " + v); });
    $("headers").textContent = lines.join("\n");
    var rem = res.headers.get("Lessongate-Remaining");
    if (rem && $("remaining")) { $("remaining").textContent = rem + " s"; }
  }

  function call(method, url, body) {
    return fetch(url, { method: method, body: body, headers: body ? { "Content-Type": "application/json" } : {} })
      .then(function (res) {
        if ($("headers")) { showHeaders(res); }
        return res.text().then(function (t) { return res.status + "\n" + t; });
      })
      .catch(function (e) { return "error: " + e; });
  }

  function home() {
    fetch("/api/lessons").then(function (r) { return r.json(); }).then(function (d) {
      $("lessons").innerHTML = "";
      d.lessons.forEach(function (l) {
        var li = document.createElement("li"), a = document.createElement("a");
        a.href = l.path + "/"; a.textContent = l.title;
        li.appendChild(a); li.appendChild(document.createTextNode(" (" + l["class"] + ")"));
        $("lessons").appendChild(li);
      });
    }).catch(function (e) { $("lessons").textContent = "error: " + e; });
    $("time").onclick = function () { call("GET", "/api/time").then(function (t) { $("api").textContent = t; }); };
    $("echo").onclick = function () {
      call("POST", "/api/echo", JSON.stringify({ hello: "世界" })).then(function (t) { $("api").textContent = t; });
    };
  }

  function lesson() {
    var base = location.pathname.replace(/\/+$/, "");
    $("lesson").textContent = base;
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(proto + location.host + "/live/ws");
    ws.onopen = function () { $("ws-state").textContent = "open 已连接"; log("ws-log", "connected 已连接"); };
    ws.onmessage = function (e) { log("ws-log", "← " + e.data); };
    ws.onclose = function (e) {
      $("ws-state").textContent = "closed 已断开: " + e.code + " " + (CLOSE[e.code] || e.reason || "");
      $("ws-state").className = "closed";
      log("ws-log", "closed " + e.code + " " + (e.reason || ""));
    };
    $("send").onclick = function () { ws.send($("msg").value); log("ws-log", "→ " + $("msg").value); };
    $("close").onclick = function () { ws.close(1000, "bye"); };
    var es = new EventSource("/live/events");
    es.addEventListener("tick", function (e) { log("events", e.data); });
    es.onerror = function () { log("events", "stream ended or failed 事件流结束"); es.close(); };
    fetch(base + "/", { method: "HEAD" }).then(showHeadersQuiet).catch(function () {});
    function showHeadersQuiet(res) {
      var rem = res.headers.get("Lessongate-Remaining");
      if (rem) { $("remaining").textContent = rem + " s"; }
    }
  }

  return { home: home, lesson: lesson };
})();
