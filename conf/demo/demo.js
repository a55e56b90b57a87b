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
    me();
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

  /* Who is signed in (the platform reads its own cookie), with a sign-in or sign-out link. */
  function me() {
    var el = $("me");
    if (!el) { return; }
    fetch("/api/me").then(function (r) { return r.json(); }).then(function (d) {
      el.innerHTML = "";
      var a = document.createElement("a");
      if (d.student) {
        el.appendChild(document.createTextNode(" · 已登录 Signed in as "));
        var b = document.createElement("b"); b.id = "student"; b.textContent = d.student;
        el.appendChild(b); el.appendChild(document.createTextNode(" · "));
        a.href = "/logout"; a.textContent = "退出 Sign out";
      } else {
        el.appendChild(document.createTextNode(" · "));
        a.href = "/login?next=" + encodeURIComponent(location.pathname); a.textContent = "登录 Sign in";
      }
      el.appendChild(a);
    }).catch(function () {});
  }

  /* The sign-in form comes back to the page that sent the student here. */
  function login() {
    var next = new URLSearchParams(location.search).get("next");
    if (!next && document.referrer) {
      var r = new URL(document.referrer);
      if (r.origin === location.origin && r.pathname !== "/login") { next = r.pathname + r.search; }
    }
    $("next").value = next || "/";
  }

  /* "2:05", "0:09" */
  function mmss(s) {
    s = Math.max(0, Math.round(s));
    return Math.floor(s / 60) + ":" + ("0" + s % 60).slice(-2);
  }

  function notice(html) { $("notice").hidden = false; $("notice").innerHTML = html; }

  function lesson() {
    var base = location.pathname.replace(/\/+$/, "");
    var cls = /^\/art\//.test(base) ? "non_subject" : "subject";
    var deadline = 0, over = false;
    $("lesson").textContent = base;
    me();

    /* The countdown runs on this page's clock from the remaining seconds lessongate told. */
    function setRemaining(sec) { deadline = Date.now() + sec * 1000; tick(); }
    function tick() {
      if (over || !deadline) { return; }
      var left = (deadline - Date.now()) / 1000;
      $("remaining").textContent = mmss(left) + " (" + Math.max(0, Math.round(left)) + " 秒 s)";
    }
    setInterval(tick, 250);

    /* The break: when the student may come back, from the status document. */
    function showBreak() {
      fetch("/.well-known/lessongate/status").then(function (r) { return r.json(); }).then(function (d) {
        var c = d.classes[cls];
        var when = c.retry_at ? c.retry_at.replace(/^.*T/, "").replace(/[+-]\d\d:\d\d$|Z$/, "") : "";
        notice("休息一下：本节课时间已到。" + (when ? "可以再来的时间 " + when + "（" + c.retry_after +
               " 秒后）。" : "") + "<br>Time for a break: this lesson is over." +
               (when ? " You may come back at " + when + " (in " + c.retry_after + " s). " : " ") +
               "<a id=\"rejoin\" href=\"" + base + "/\">再次进入 Rejoin</a> (lessongate answers 429 " +
               "until then 休息结束前会被拒绝)");
      }).catch(function () {});
    }

    var st = new EventSource("/.well-known/lessongate/status");
    st.addEventListener("status", function (e) {
      var d = JSON.parse(e.data), c = d.classes[cls];
      log("status-log", "status: " + (c.allowed ? "allowed, " + c.remaining + " s left" : c.rule));
      if (c.allowed && !over) { setRemaining(c.remaining); }
    });
    st.addEventListener("warning", function (e) {
      var d = JSON.parse(e.data);
      log("status-log", "warning: " + d.remaining + " s left (" + d.rule + ")");
      if (d["class"] !== cls || over) { return; }
      setRemaining(d.remaining);
      $("countdown").className = "countdown warn";
      notice("提醒：本节课还剩 " + d.remaining + " 秒。<br>Warning: " + d.remaining +
             " seconds left in this lesson.");
    });
    st.addEventListener("ended", function (e) {
      var d = JSON.parse(e.data);
      log("status-log", "ended (" + d.rule + ")");
      if (d["class"] !== cls) { return; }
      over = true;
      $("countdown").className = "countdown over";
      $("remaining").textContent = "0:00 时间到 Time is up";
      showBreak();
    });

    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(proto + location.host + base + "/ws");
    ws.onopen = function () { $("ws-state").textContent = "open 已连接"; log("ws-log", "connected 已连接"); };
    ws.onmessage = function (e) { log("ws-log", "← " + e.data); };
    ws.onclose = function (e) {
      $("ws-state").textContent = "closed 已断开: " + e.code + " " + (CLOSE[e.code] || e.reason || "");
      $("ws-state").className = "closed";
      log("ws-log", "closed " + e.code + " " + (e.reason || ""));
    };
    $("send").onclick = function () { ws.send($("msg").value); log("ws-log", "→ " + $("msg").value); };
    $("close").onclick = function () { ws.close(1000, "bye"); };
    var es = new EventSource(base + "/events");
    es.addEventListener("tick", function (e) { log("events", e.data); });
    es.onerror = function () { log("events", "stream ended or failed 事件流结束"); es.close(); };
  }

  return { home: home, lesson: lesson, login: login };
})();
