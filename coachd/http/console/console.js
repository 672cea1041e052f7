// coachd console: plain JavaScript, no build step, no dependencies.
// Reads GET /v1/console/me, /v1/agents, /v1/sessions, /v1/coverage and the
// event stream /v1/events (Server-Sent Events); acts with POST, PATCH and
// DELETE /v1/sessions, sending the login's CSRF token in X-CSRF-Token.
"use strict";

(function () {
  const ROOT = new URL("../", window.location.href); // works behind a path prefix too
  const MODES = ["monitor", "whisper", "private_whisper", "barge"];
  const LABEL = {
    monitor: "Monitor",
    whisper: "Whisper",
    private_whisper: "Private whisper",
    barge: "Barge",
  };
  const SAYS = {
    monitor: "Monitor: you hear the call, nobody hears you.",
    whisper: "Whisper: only the agent hears you.",
    private_whisper: "Private whisper: only the agent hears you, you hear nothing.",
    barge: "Barge: the caller hears you.",
  };
  const AGENTS_EVERY = 5000;
  const COVERAGE_EVERY = 30000;

  const state = {
    me: null,
    csrf: null,
    agents: [],
    agentsAt: 0, // Date.now() when the agent list was read
    sessions: [],
    modes: {}, // session id -> last announced mode
    busy: false,
    events: null,
    timers: [],
  };

  const $ = (id) => document.getElementById(id);

  // --- HTTP --------------------------------------------------------------------

  class HttpError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && state.csrf) headers["X-CSRF-Token"] = state.csrf;
    const response = await fetch(new URL(path, ROOT), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
    if (response.status === 204) return null;
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      const error = (data && data.error) || {};
      if (response.status === 401 && state.me) loggedOut("Your login has ended. Log in again.");
      const retry = response.headers.get("Retry-After");
      let message = error.message || response.statusText;
      if (retry) message += " (in " + retry + " s)";
      throw new HttpError(response.status, error.code || "error", message);
    }
    return data;
  }

  // --- login -------------------------------------------------------------------

  function showLogin(message) {
    $("app").hidden = true;
    $("who").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("login-user").focus();
  }

  async function onLogin(event) {
    event.preventDefault();
    const user = $("login-user").value.trim();
    const password = $("login-password").value;
    if (!user || !password) {
      $("login-error").textContent = "Enter your user and password.";
      return;
    }
    $("login-submit").disabled = true;
    $("login-error").textContent = "";
    try {
      const me = await api("POST", "v1/console/login", { user, password });
      $("login-password").value = "";
      await start(me);
    } catch (e) {
      $("login-error").textContent = e.message;
      $("login-password").select();
    } finally {
      $("login-submit").disabled = false;
    }
  }

  async function onLogout() {
    try {
      await api("POST", "v1/console/logout");
    } catch (e) {
      /* gone already */
    }
    loggedOut("You are logged out.");
  }

  function loggedOut(message) {
    stop();
    state.me = null;
    state.csrf = null;
    showLogin(message);
  }

  // --- running -----------------------------------------------------------------

  async function start(me) {
    state.me = me;
    state.csrf = me.csrf_token;
    $("login").hidden = true;
    $("app").hidden = false;
    $("who").hidden = false;
    $("who-name").textContent = me.user || me.role;
    // /me (not the login answer) says which phone coachd rings.
    try {
      const full = await api("GET", "v1/console/me");
      if (full.endpoints && full.endpoints.length) {
        $("who-phone").textContent = "rings " + full.endpoints[0];
      }
    } catch (e) {
      /* shown by the next refresh */
    }
    connectEvents();
    await Promise.all([refreshSessions(), refreshAgents(), refreshCoverage()]);
    state.timers.push(setInterval(refreshAgents, AGENTS_EVERY));
    state.timers.push(setInterval(refreshCoverage, COVERAGE_EVERY));
    state.timers.push(setInterval(tick, 1000));
    $("agents-heading").focus();
  }

  function stop() {
    state.timers.forEach(clearInterval);
    state.timers = [];
    if (state.events) state.events.close();
    state.events = null;
  }

  function connectEvents() {
    const source = new EventSource(new URL("v1/events", ROOT), { withCredentials: true });
    state.events = source;
    const link = $("link");
    source.onopen = () => {
      link.textContent = "live";
      link.classList.add("live");
      refreshSessions();
    };
    source.onerror = () => {
      link.textContent = "reconnecting…";
      link.classList.remove("live");
      // A 401 closes the stream for good: find out whether the login ended.
      if (source.readyState === EventSource.CLOSED) {
        api("GET", "v1/console/me").then(
          () => setTimeout(connectEvents, 3000),
          () => {}
        );
      }
    };
    const onEvent = (event) => {
      let payload = {};
      try {
        payload = JSON.parse(event.data);
      } catch (e) {
        /* ignore */
      }
      refreshSessions();
      if (event.type === "session_ended" || event.type === "mode_changed") refreshCoverage();
      if (event.type === "session_ended") {
        say("The session with " + (payload.agent || "the agent") + " ended (" + (payload.reason || "") + ").");
      }
      if (event.type === "session_refused" || event.type === "mode_refused") {
        say("Refused: " + (payload.reason || "unknown reason"), true);
      }
    };
    for (const type of [
      "session_started",
      "mode_changed",
      "mode_refused",
      "session_ended",
      "session_refused",
      "time_limit_warning",
    ]) {
      source.addEventListener(type, onEvent);
    }
  }

  async function refreshSessions() {
    try {
      const data = await api("GET", "v1/sessions");
      state.sessions = data.sessions.filter((s) => s.state === "ringing" || s.state === "active");
      renderSessions();
      renderAgents();
    } catch (e) {
      /* next event or poll */
    }
  }

  async function refreshAgents() {
    try {
      const data = await api("GET", "v1/agents");
      state.agents = data.agents;
      state.agentsAt = Date.now();
      renderAgents();
    } catch (e) {
      if (e.status !== 401) say("Agents could not be read: " + e.message, true);
    }
  }

  async function refreshCoverage() {
    try {
      const data = await api("GET", "v1/coverage");
      const mine = data.supervisors.find((s) => s.supervisor === state.me.user) || data.supervisors[0];
      const minutes = mine ? mine.minutes : 0;
      $("coverage-minutes").textContent = Math.floor(minutes);
      $("coverage-target").textContent = data.target_minutes;
      const meter = $("coverage-meter");
      meter.max = data.target_minutes || 1;
      meter.value = Math.min(minutes, meter.max);
      meter.setAttribute("aria-valuetext", Math.floor(minutes) + " of " + data.target_minutes + " minutes");
      $("coverage-modes").textContent = mine
        ? MODES.filter((m) => mine.by_mode[m] > 0)
            .map((m) => LABEL[m] + " " + Math.round(mine.by_mode[m]) + " min")
            .join(" · ")
        : "";
      $("coverage-note").textContent = data.log_available
        ? ""
        : "The coaching log cannot be read: only running sessions are counted.";
    } catch (e) {
      /* next poll */
    }
  }

  // --- actions -----------------------------------------------------------------

  async function startSession(agent, mode, button) {
    if (state.busy) return;
    state.busy = true;
    button.disabled = true;
    say("Ringing your phone for " + LABEL[mode] + " on " + agent + "…");
    try {
      await api("POST", "v1/sessions", { supervisor: state.me.user, agent, mode });
      say("Your phone is ringing: answer it to start " + LABEL[mode] + " on " + agent + ".");
      await refreshSessions();
    } catch (e) {
      say("Could not start: " + e.message, true);
    } finally {
      state.busy = false;
      renderAgents();
    }
  }

  async function switchMode(session, mode) {
    if (state.busy) return;
    state.busy = true;
    say("Switching to " + LABEL[mode] + "…");
    try {
      await api("PATCH", "v1/sessions/" + session.session_id, { mode });
      say("Now " + SAYS[mode]);
      await refreshSessions();
    } catch (e) {
      say("Could not switch: " + e.message, true);
    } finally {
      state.busy = false;
    }
  }

  async function endSession(session) {
    if (state.busy) return;
    state.busy = true;
    try {
      await api("DELETE", "v1/sessions/" + session.session_id);
      say("Ending the session with " + session.agent + ".");
      setTimeout(refreshSessions, 500);
    } catch (e) {
      say("Could not end: " + e.message, true);
    } finally {
      state.busy = false;
    }
  }

  // --- rendering ---------------------------------------------------------------

  function say(text, bad) {
    const status = $("action-status");
    status.textContent = text;
    status.classList.toggle("bad", Boolean(bad));
  }

  function clock(seconds) {
    if (seconds === null || seconds === undefined || seconds < 0) return "–";
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = Math.floor(seconds % 60);
    const mm = (h ? String(m).padStart(2, "0") : String(m)) + ":" + String(s).padStart(2, "0");
    return h ? h + ":" + mm : mm;
  }

  function spoken(seconds) {
    if (seconds === null || seconds === undefined) return "unknown";
    const m = Math.floor(seconds / 60);
    const s = Math.floor(seconds % 60);
    return (m ? m + " minutes " : "") + s + " seconds";
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function mySessionOn(agent) {
    // From the live session list (events), not the agent poll, which may be seconds old.
    const names = [agent.agent, agent.endpoint, agent.endpoint.split("/").pop()];
    return state.sessions.find((s) => names.includes(s.agent));
  }

  function renderAgents() {
    const rows = $("agent-rows");
    const focused = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.key
      : null;
    rows.replaceChildren();
    $("no-agents").hidden = state.agents.length > 0;
    $("agent-table").hidden = state.agents.length === 0;
    $("agent-count").textContent = state.agents.length ? "(" + state.agents.length + ")" : "";
    const running = state.sessions.length > 0;
    for (const agent of state.agents) {
      const tr = el("tr");
      const who = el("td", { "data-label": "Agent" });
      who.append(el("span", { class: "agent-name" }, agent.name || agent.agent));
      const detail = [agent.name ? agent.agent : null, agent.endpoint, agent.campaign]
        .filter(Boolean)
        .join(" · ");
      who.append(el("span", { class: "agent-detail" }, detail));
      tr.append(who);

      const dur = el("td", { "data-label": "On call for", class: "duration" });
      dur.dataset.seconds = agent.seconds === null ? "" : agent.seconds;
      dur.textContent = clock(agent.seconds);
      tr.append(dur);

      const mine = mySessionOn(agent);
      let tag = "–";
      if (mine) tag = mine.state === "ringing" ? "ringing your phone" : "you · " + LABEL[mine.mode];
      else if (agent.coached) tag = "being coached";
      tr.append(el("td", { "data-label": "Coaching", class: "coach-tag" }, tag));

      const actions = el("td", { "data-label": "Start" });
      const group = el("div", { class: "actions", role: "group" });
      group.setAttribute("aria-label", "Start a session with " + (agent.name || agent.agent));
      for (const mode of MODES) {
        const allowed = agent.modes === null || agent.modes.includes(mode);
        const key = agent.agent + "/" + mode;
        const button = el("button", { type: "button", class: "mode mode-" + mode }, LABEL[mode]);
        button.dataset.key = key;
        button.setAttribute("aria-label", LABEL[mode] + " " + (agent.name || agent.agent));
        button.title = allowed ? SAYS[mode] : "Not granted to you";
        button.disabled = !allowed || running || state.busy;
        button.addEventListener("click", () => startSession(agent.agent, mode, button));
        group.append(button);
        if (key === focused) setTimeout(() => button.focus(), 0);
      }
      actions.append(group);
      tr.append(actions);
      rows.append(tr);
    }
  }

  function renderSessions() {
    const list = $("session-list");
    const focusedMode = document.activeElement && document.activeElement.closest
      ? document.activeElement.closest(".session")
      : null;
    const keep = focusedMode ? focusedMode.dataset.id + "/" + (document.activeElement.dataset.mode || "end") : null;
    list.replaceChildren();
    $("no-sessions").hidden = state.sessions.length > 0;
    const template = $("session-template");
    for (const session of state.sessions) {
      const item = template.content.firstElementChild.cloneNode(true);
      item.dataset.id = session.session_id;
      const mode = session.mode;
      item.classList.add(session.state === "ringing" ? "ringing" : "mode-" + mode);
      item.querySelector(".session-agent").textContent = session.agent;
      const badge = item.querySelector(".mode-badge");
      badge.textContent = session.state === "ringing" ? "Ringing" : LABEL[mode] || "–";
      badge.setAttribute("aria-label", session.state === "ringing"
        ? "Your phone is ringing"
        : "Current mode: " + (SAYS[mode] || mode));
      if (mode) badge.classList.add("mode-" + mode);
      item.querySelector(".session-state").textContent = session.state === "ringing"
        ? "Answer your phone (" + (session.endpoint || "") + ") to start."
        : "Since " + new Date(session.mode_since || session.started_at).toLocaleTimeString() + ".";
      const group = item.querySelector(".mode-buttons");
      group.setAttribute("aria-label", "Mode of the session with " + session.agent);
      for (const button of group.querySelectorAll("button[data-mode]")) {
        const m = button.dataset.mode;
        button.setAttribute("aria-pressed", String(m === mode));
        button.disabled = session.state !== "active";
        button.title = SAYS[m];
        button.addEventListener("click", () => {
          if (m !== mode) switchMode(session, m);
        });
        if (keep === session.session_id + "/" + m) setTimeout(() => button.focus(), 0);
      }
      const end = group.querySelector("button[data-end]");
      end.disabled = session.state !== "active";
      end.addEventListener("click", () => endSession(session));
      if (keep === session.session_id + "/end") setTimeout(() => end.focus(), 0);
      list.append(item);
      announce(session);
    }
  }

  function announce(session) {
    if (session.state !== "active" || !session.mode) return;
    if (state.modes[session.session_id] === session.mode) return;
    state.modes[session.session_id] = session.mode;
    $("mode-announcer").textContent = "Session with " + session.agent + ": " + SAYS[session.mode];
  }

  function tick() {
    const elapsed = Math.floor((Date.now() - state.agentsAt) / 1000);
    for (const cell of document.querySelectorAll("#agent-rows td.duration")) {
      if (cell.dataset.seconds === "") continue;
      const seconds = Number(cell.dataset.seconds) + elapsed;
      cell.textContent = clock(seconds);
      cell.setAttribute("aria-label", spoken(seconds));
    }
  }

  // --- boot --------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", async () => {
    $("login-form").addEventListener("submit", onLogin);
    $("logout").addEventListener("click", onLogout);
    try {
      const me = await api("GET", "v1/console/me");
      if (!me.csrf_token) throw new Error("not a console login");
      await start(me);
    } catch (e) {
      showLogin("");
    }
  });
})();
