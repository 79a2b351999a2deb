// voiceframe WebRTC client: microphone -> server, bot audio -> <audio>, events -> transcript.
// When the session fails the server sends {"type": "error", "code", "message", "fatal"} on the data
// channel; the page shows the message in a banner and hangs up. {"type": "end", "reason"} is a normal
// end (idle, the bot said goodbye): shown as a notice.
// Query options: ?mute=1 does not play the bot (it is still measured), ?raw=1 turns off the
// browser's echo cancellation, noise suppression and gain control.
"use strict";

const opts = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
// state for people debugging the page and for the end-to-end test
const vf = (window.vf = {
  state: "idle", lines: [], events: [], botLevelMax: 0, botAudioAt: [], micStartedAt: null,
  connectedAt: null, error: null, errorCode: null, notice: null,
});
let pc = null, channel = null, mic = null, audioCtx = null, meterTimer = null;
let botLine = null;

function t() { return performance.now(); }

function setState(state) {
  vf.state = state;
  $("conn-text").textContent = state;
  $("conn").classList.toggle("on", state === "connected");
  $("conn").classList.toggle("failed", state === "failed");
}

// the error banner's heading, by the server's error code (docs/transports.md lists them)
const ERROR_TITLES = {
  config: "The bot could not start", missing_key: "The bot could not start",
  unknown_provider: "The bot could not start", session_failed: "The bot could not start",
  service_failed: "The bot stopped", busy: "The server is busy", connection_lost: "The connection was lost",
};

// the banner above the transcript: an error (red) or a notice (grey); "" hides it
function showError(message, code) {
  vf.error = message || null;
  vf.errorCode = message ? code || null : null;
  $("error-title").textContent = ERROR_TITLES[code] || "Something went wrong";
  $("error-text").textContent = message || "";
  $("error").hidden = !message;
  $("notice").hidden = true;
}

function showNotice(message) {
  vf.notice = message || null;
  $("notice").textContent = message || "";
  $("notice").hidden = !message;
}

function addLine(role, text) {
  const hint = $("hint");
  if (hint) hint.remove();
  const el = document.createElement("div");
  el.className = `line ${role}`;
  el.textContent = text;
  $("transcript").appendChild(el);
  el.scrollIntoView({ block: "end" });
  const line = { role, text, el, at: t() };
  vf.lines.push(line);
  return line;
}

function onEvent(ev) {
  vf.events.push({ ...ev, at: t() });
  if (ev.type === "transcript") {
    botLine = null;
    addLine("user", ev.text);
  } else if (ev.type === "bot_word") {
    if (!botLine) botLine = addLine("bot", ev.text);
    else { botLine.text += " " + ev.text; botLine.el.textContent = botLine.text; }
  } else if (ev.type === "bot_speaking") {
    $("speaking").classList.toggle("on", ev.speaking);
    if (!ev.speaking) botLine = null;
  } else if (ev.type === "user_speaking") {
    $("you").classList.toggle("on", ev.speaking);
  } else if (ev.type === "error") {
    showError(ev.message || "The bot failed.", ev.code);
    if (ev.fatal !== false) stop("failed");
  } else if (ev.type === "end") {
    showNotice(ev.reason || "The session ended.");
    stop("ended");
  } else if (ev.type === "clear") {
    // the bot was cut off (its "stopped speaking" comes first): mark its last line
    const last = vf.lines[vf.lines.length - 1];
    if (last && last.role === "bot") last.el.classList.add("cut");
    botLine = null;
  }
}

function startMeter(stream) {
  // WebAudio sees the bot's audio even when the <audio> element is muted
  audioCtx = new AudioContext();
  const analyser = audioCtx.createAnalyser();
  analyser.fftSize = 1024;
  audioCtx.createMediaStreamSource(stream).connect(analyser);
  const buf = new Float32Array(analyser.fftSize);
  let loud = false;
  meterTimer = setInterval(() => {
    analyser.getFloatTimeDomainData(buf);
    let sum = 0;
    for (const x of buf) sum += x * x;
    const rms = Math.sqrt(sum / buf.length);
    vf.botLevelMax = Math.max(vf.botLevelMax, rms);
    if (rms > 0.01 && !loud) vf.botAudioAt.push(t());
    loud = rms > 0.01;
    $("level").firstElementChild.style.width = `${Math.min(100, rms * 400)}%`;
  }, 20);
}

function waitForIce(conn) {
  // aiortc does not trickle ICE: send the offer with all candidates in it
  if (conn.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => {
      if (conn.iceGatheringState === "complete") {
        conn.removeEventListener("icegatheringstatechange", check);
        resolve();
      }
    };
    conn.addEventListener("icegatheringstatechange", check);
    setTimeout(resolve, 3000); // good enough with the candidates found so far
  });
}

async function start() {
  showError("");
  showNotice("");
  $("mic").disabled = true;
  setState("starting microphone");
  const processing = opts.get("raw") !== "1";
  mic = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: processing, noiseSuppression: processing, autoGainControl: processing },
  });
  vf.micStartedAt = t();
  const config = await (await fetch("config")).json();
  pc = new RTCPeerConnection({ iceServers: config.iceServers });
  pc.addEventListener("connectionstatechange", () => {
    setState(pc.connectionState);
    if (pc.connectionState === "connected" && vf.connectedAt === null) vf.connectedAt = t();
    if (pc.connectionState === "failed") {
      if (!vf.error) showError("The connection to the server was lost.", "connection_lost");
      stop("failed");
    } else if (pc.connectionState === "closed") stop();
  });
  pc.addEventListener("track", (e) => {
    const audio = $("bot-audio");
    audio.muted = opts.get("mute") === "1";
    audio.srcObject = e.streams[0] || new MediaStream([e.track]);
    audio.play().catch(() => {});
    startMeter(audio.srcObject);
  });
  for (const track of mic.getAudioTracks()) pc.addTrack(track, mic);
  channel = pc.createDataChannel("events", { negotiated: true, id: 0 });
  channel.addEventListener("message", (e) => onEvent(JSON.parse(e.data)));
  await pc.setLocalDescription(await pc.createOffer());
  setState("connecting");
  await waitForIce(pc);
  const response = await fetch("offer", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ sdp: pc.localDescription.sdp, type: pc.localDescription.type }),
  });
  const answer = await response.json();
  if (!response.ok) {
    const refused = new Error(answer.error || `the server said ${response.status}`);
    refused.code = response.status === 503 ? "busy" : "offer_refused";
    throw refused;
  }
  await pc.setRemoteDescription(answer);
  $("mic").textContent = "Hang up";
  $("mic").classList.add("live");
  $("mic").disabled = false;
}

// hang up; `state` is what the status then says ("not connected", "failed", "ended")
function stop(state = "not connected") {
  if (channel && channel.readyState === "open") channel.send(JSON.stringify({ type: "bye" }));
  if (meterTimer) clearInterval(meterTimer);
  if (audioCtx) audioCtx.close();
  if (mic) mic.getTracks().forEach((tr) => tr.stop());
  if (pc) pc.close();
  pc = channel = mic = audioCtx = meterTimer = null;
  setState(state);
  $("speaking").classList.remove("on");
  $("you").classList.remove("on");
  $("mic").textContent = "Start talking";
  $("mic").classList.remove("live");
  $("mic").disabled = false;
}

$("mic").addEventListener("click", () => {
  if (pc) { stop(); return; }
  start().catch((err) => { showError(String(err.message || err), err.code || "client"); stop("failed"); });
});
// inbound audio as the browser's WebRTC stats see it (for the end-to-end test)
window.vfInboundStats = async () => {
  if (!pc) return null;
  for (const s of (await pc.getStats()).values()) {
    if (s.type === "inbound-rtp" && s.kind === "audio") {
      return { bytesReceived: s.bytesReceived, packetsReceived: s.packetsReceived };
    }
  }
  return null;
};

window.addEventListener("pagehide", () => { if (pc) stop(); });
