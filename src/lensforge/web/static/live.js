// The live connection: the WebSocket /api/v1/ws/training, authenticated with a short-lived
// token the page gets for its session, subscribed to jobs or projects; it reconnects by itself
// and tells the page to re-read its state through the API (events missed while away).
"use strict";
(function () {
  function connect({ subscriptions, onEvent, onReconnect, indicator }) {
    let delay = 1000;
    let first = true;
    const state = (on, text) => {
      if (!indicator) return;
      indicator.classList.toggle("on", on);
      indicator.textContent = text;
    };

    async function open() {
      let token;
      try {
        token = (await lf.api("POST", "/session/token")).token;
      } catch (error) {
        state(false, "offline");
        return retry();
      }
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      const socket = new WebSocket(`${scheme}://${location.host}/api/v1/ws/training`);
      socket.addEventListener("open", () => socket.send(JSON.stringify({ type: "auth", token })));
      socket.addEventListener("message", (message) => {
        const event = JSON.parse(message.data);
        if (event.type === "ready") {
          for (const s of subscriptions) socket.send(JSON.stringify({ action: "subscribe", ...s }));
          state(true, "live");
          delay = 1000;
          if (!first && onReconnect) onReconnect();
          first = false;
        } else if (event.type !== "ping" && event.type !== "pong" && event.type !== "subscribed") {
          onEvent(event);
        }
      });
      socket.addEventListener("close", (close) => {
        state(false, "reconnecting…");
        if (close.code === 4401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); return; }
        if (close.code === 4403) { state(false, "not allowed"); return; }
        retry();
      });
    }

    function retry() {
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 15000);
    }

    open();
  }

  lf.live = { connect };
})();
