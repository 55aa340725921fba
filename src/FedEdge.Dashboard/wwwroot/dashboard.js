// FedEdge dashboard: renders the snapshot the server pushes over SignalR. Every text from the federation is set
// with textContent (device ids and reasons come from devices and may be hostile); the charts are SVG the server drew.
(function () {
  "use strict";
  const body = document.body;
  const base = body.dataset.base || "";
  const page = body.dataset.page;
  const content = document.getElementById("content");
  const fmt = (v, digits) => v === null || v === undefined ? "n/a" : Number(v).toFixed(digits);
  const bytes = v => Number(v).toLocaleString("en-US") + " B";
  const set = (id, text) => { const e = document.getElementById(id); if (e) { e.textContent = text; } };

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    if (cls) { e.className = cls; }
    return e;
  }

  function table(id, headers, rows) {
    const t = el("table"); t.id = id;
    const head = el("tr");
    headers.forEach(h => head.appendChild(el("th", h)));
    t.appendChild(head);
    rows.forEach(r => t.appendChild(r));
    return t;
  }

  function row(cells, cls) {
    const tr = el("tr", null, cls);
    cells.forEach(c => {
      const td = el("td", c.text, c.cls);
      if (c.href) { td.textContent = ""; const a = el("a", c.text); a.href = c.href; td.appendChild(a); }
      tr.appendChild(td);
    });
    return tr;
  }

  function chart(title, svg) {
    const f = el("figure");
    const holder = el("div"); holder.innerHTML = svg; // server-drawn SVG, numbers only
    f.appendChild(holder); f.appendChild(el("figcaption", title));
    return f;
  }

  function federation(s) {
    const charts = el("div", null, "charts");
    charts.appendChild(chart("training loss and F1 (pooled held-out) per round", s.qualityChart));
    charts.appendChild(chart("bytes up and down per round", s.bytesChart));
    return [charts, el("h2", "Rounds"), roundsTable(s)];
  }

  function roundsTable(s) {
    const rows = s.rounds.slice().reverse().map(r => row([
      { text: r.round, href: base + "/rounds/" + r.round, cls: "num" },
      { text: r.completed ? "completed" : "failed: " + (r.failure || "") },
      { text: r.participants, cls: "num" },
      { text: fmt(r.loss, 4), cls: "num" },
      { text: fmt(r.f1, 4), cls: "num" },
      { text: bytes(r.bytesUp), cls: "num" },
      { text: bytes(r.bytesDown), cls: "num" },
      { text: fmt(r.seconds, 2), cls: "num" },
      { text: r.epsilon === null ? "" : fmt(r.epsilon, 3), cls: "num" },
      { text: r.refused.length, cls: "num" }]));
    return table("rounds", ["round", "outcome", "participants", "loss", "F1", "bytes up", "bytes down", "seconds", "ε", "refused"], rows);
  }

  function devices(s) {
    const rows = s.devices.map(d => {
      const hot = d.temperatureCelsius !== null && d.temperatureCelsius >= 70;
      return row([
        { text: d.edge ? "└ " + d.id : d.id },
        { text: d.state },
        { text: d.heartbeatAgeSeconds === null ? "" : fmt(d.heartbeatAgeSeconds, 1) + " s ago", cls: "num" },
        { text: d.temperatureCelsius === null ? "n/a" : fmt(d.temperatureCelsius, 1) + " °C", cls: "num temp" },
        { text: d.throttled === null ? "n/a" : (d.throttled ? "throttled" : "no") },
        { text: d.governor || "" },
        { text: bytes(d.bytesUp), cls: "num" },
        { text: bytes(d.bytesDown), cls: "num" },
        { text: fmt(d.trainingSeconds, 2), cls: "num" },
        { text: d.reputation === null || d.reputation === undefined ? "" : fmt(d.reputation, 2), cls: "num reputation" },
        { text: d.refusalReason || "" }], (d.state === "Refused" ? "refused" : (hot ? "hot" : "")) + (d.edge ? " child" : ""));
    });
    return [table("devices", ["device", "state", "last heartbeat", "temperature", "throttling", "governor", "bytes up", "bytes down", "training s", "reputation", "refusal / quarantine reason"], rows)];
  }

  function roundDetail(s) {
    const n = Number(body.dataset.round);
    const r = s.rounds.find(x => x.round === n);
    if (!r) { return [el("p", "Round " + n + " has not finished yet.")]; }
    const out = [el("h2", "Round " + r.round + (r.completed ? " (completed)" : " (failed: " + (r.failure || "") + ")"))];
    out.push(el("h2", "Accepted updates (" + r.accepted.length + ")"));
    out.push(table("accepted", ["device"], r.accepted.map(d => row([{ text: d }]))));
    out.push(el("h2", "Refused or missing updates (" + r.refused.length + ")"));
    out.push(table("refused", ["device", "reason"], r.refused.map(x => row([{ text: x.device }, { text: x.reason }], "refused"))));
    if (r.ledgerSize !== null && r.ledgerSize !== undefined) {
      out.push(el("h2", "Transparency log head"));
      out.push(table("ledger", ["size", "root hash", "coordinator signature"], [row([{ text: r.ledgerSize, cls: "num" }, { text: r.ledgerRoot }, { text: r.ledgerSignature }])]));
    }
    if (r.committee && r.committee.length > 0) {
      const signed = r.committee.filter(w => w.coSigned).length;
      out.push(el("h2", "Committee co-signatures (" + signed + " of " + r.committee.length + ", quorum " + r.committeeQuorum + ")"));
      out.push(table("committee", ["validator", "co-signed", "co-signature or problem"], r.committee.map(w => row([{ text: w.validator }, { text: w.coSigned ? "yes" : "no" }, { text: w.detail }], w.coSigned ? undefined : "refused"))));
    }
    if (r.reputationChanges && r.reputationChanges.length > 0) {
      out.push(el("h2", "Reputation changes (" + r.reputationChanges.length + ")"));
      out.push(table("reputation", ["change"], r.reputationChanges.map(c => row([{ text: c }]))));
    }
    return out;
  }

  function render(s) {
    set("federation", s.federation);
    set("round", s.round);
    set("phase", s.phase);
    set("participants", s.participants);
    if (s.epsilon !== null) { document.getElementById("epsilon-box").hidden = false; set("epsilon", fmt(s.epsilon, 3)); }
    set("stop", s.stopReason ? "· stopped: " + s.stopReason : "");
    const parts = page === "devices" ? devices(s) : page === "rounds" ? [roundsTable(s)] : page === "round" ? roundDetail(s) : federation(s);
    content.replaceChildren(...parts);
  }

  fetch(base + "/_fededge/snapshot", { credentials: "same-origin" }).then(r => r.json()).then(render);
  const connection = new signalR.HubConnectionBuilder().withUrl(base + "/_fededge/hub").withAutomaticReconnect().build();
  connection.on("snapshot", json => render(JSON.parse(json)));
  connection.onreconnecting(() => set("live", "reconnecting…"));
  connection.onreconnected(() => set("live", "live"));
  connection.onclose(() => set("live", "disconnected"));
  connection.start().then(() => set("live", "live")).catch(() => set("live", "disconnected"));
})();
