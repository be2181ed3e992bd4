// The page's behaviour: ask the server, show what it says. Text from a request or a paper is always
// put in as text (textContent), never as markup; only the server's typeset SVGs are inserted as markup.
"use strict";

const $ = (id) => document.getElementById(id);
let score = { right: 0, played: 0 };
let round = null;

function show(el, text) {
  el.textContent = text;
  el.hidden = !text;
}

async function ask(url, options) {
  let resp;
  try {
    resp = await fetch(url, options);
  } catch (err) {
    throw new Error("the server did not answer (" + err.message + "); is `python -m pipeline stage=serve` running?");
  }
  let body = null;
  try {
    body = await resp.json();
  } catch (err) {
    throw new Error("the server answered " + resp.status + " without JSON");
  }
  if (!resp.ok) throw new Error(body.error || ("error " + resp.status));
  return body;
}

// TeX's own size (10pt) reads small beside the page's text
const SCALE = 1.6;

function typeset(el, svg) {
  el.innerHTML = svg;  // typeset on the server by TeX; active content is refused there
  const s = el.querySelector("svg");
  if (!s) return;
  for (const dim of ["width", "height"]) {
    const v = parseFloat(s.getAttribute(dim));
    if (v) s.setAttribute(dim, (v * SCALE).toFixed(2) + "pt");
  }
}

function option(select, value, label) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = label;
  select.appendChild(o);
}

async function loadTopics() {
  try {
    const t = await ask("/api/topics");
    for (const topic of t.topics) option($("topic"), topic.name, topic.name + " (" + topic.papers + " papers)");
    for (const name of t.fake_topics) option($("fake-topic"), name, name);
    $("n").max = t.limits.max_n;
    $("n").value = t.limits.n;
    $("temperature").max = t.limits.max_temperature;
    $("temperature").value = t.limits.temperature;
    $("syntax").checked = t.limits.syntax;
  } catch (err) {
    show($("error"), err.message);
  }
}

function equationItem(eq) {
  const li = document.createElement("li");
  li.className = "equation " + (eq.compiles ? "ok" : "bad");
  const shown = document.createElement("div");
  shown.className = "typeset";
  if (eq.svg) {
    typeset(shown, eq.svg);
  } else {
    const code = document.createElement("code");
    code.textContent = eq.latex;
    shown.appendChild(code);
  }
  li.appendChild(shown);
  const facts = document.createElement("div");
  facts.className = "facts";
  const verdict = document.createElement("span");
  verdict.className = "verdict";
  verdict.textContent = eq.compiles ? "compiles" : "does not compile: " + (eq.error || "error");
  facts.appendChild(verdict);
  const novelty = document.createElement("span");
  novelty.className = "novelty";
  novelty.textContent = eq.in_training_set ? "in the training set" : eq.near_copy ? "near a training equation" : "new";
  facts.appendChild(novelty);
  li.appendChild(facts);
  if (!eq.svg) return li;  // the LaTeX is what is shown already
  const src = document.createElement("details");
  const sum = document.createElement("summary");
  sum.textContent = "LaTeX";
  src.appendChild(sum);
  const code = document.createElement("code");
  code.textContent = (eq.env_arg ? eq.env + "=" + eq.env_arg : eq.env) + ": " + eq.latex;
  src.appendChild(code);
  li.appendChild(src);
  return li;
}

async function generate(event) {
  event.preventDefault();
  const form = new URLSearchParams();
  const topic = $("topic").value;
  if (topic) form.set("topic", topic); else form.set("words", $("words").value);
  form.set("n", $("n").value);
  form.set("temperature", $("temperature").value);
  form.set("seed", $("seed").value);
  form.set("syntax", $("syntax").checked ? "true" : "false");
  show($("error"), "");
  $("busy").hidden = false;
  $("generate").disabled = true;
  try {
    const r = await ask("/api/generate", { method: "POST", body: form });
    const c = r.conditioning;
    show($("conditioning"), c.words !== undefined ? "Context words: " + c.words : "Topic: " + c.topic.name);
    const body = $("mixture").tBodies[0];
    body.replaceChildren();
    for (const m of c.mixture) {
      const tr = document.createElement("tr");
      const pct = document.createElement("td");
      pct.className = "pct";
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.style.width = Math.max(1, Math.round(1.5 * m.percent)) + "px";
      pct.appendChild(bar);
      pct.appendChild(document.createTextNode(" " + m.percent.toFixed(0) + "%"));
      const name = document.createElement("td");
      name.textContent = m.name;
      tr.appendChild(pct);
      tr.appendChild(name);
      body.appendChild(tr);
    }
    show($("not-used"), c.not_used && c.not_used.length ? "Not used: " + c.not_used.join(", ") : "");
    $("compiled").textContent = "(" + r.compiled + " of " + r.equations.length + " compile)";
    $("equations").replaceChildren(...r.equations.map(equationItem));
    $("result").hidden = false;
  } catch (err) {
    show($("error"), err.message);
  } finally {
    $("busy").hidden = true;
    $("generate").disabled = false;
  }
}

async function newRound() {
  show($("fake-error"), "");
  $("fake-result").hidden = true;
  $("fake-choices").replaceChildren();
  const q = new URLSearchParams();
  if ($("fake-topic").value) q.set("topic", $("fake-topic").value);
  q.set("seed", String(Math.floor(Math.random() * 2147483647)));
  try {
    round = await ask("/api/fake?" + q.toString());
  } catch (err) {
    show($("fake-error"), err.message);
    return;
  }
  round.choices.forEach((choice, i) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "choice";
    b.dataset.pick = String(i);
    b.setAttribute("aria-label", "equation " + "AB"[i]);
    const letter = document.createElement("span");
    letter.className = "letter";
    letter.textContent = "AB"[i];
    const shown = document.createElement("div");
    shown.className = "typeset";
    typeset(shown, choice.svg);
    b.appendChild(letter);
    b.appendChild(shown);
    b.addEventListener("click", () => guess(i));
    $("fake-choices").appendChild(b);
  });
}

async function guess(pick) {
  if (!round) return;
  const token = round.round;
  round = null;
  let a;
  try {
    a = await ask("/api/fake/answer?" + new URLSearchParams({ round: token, pick: String(pick) }).toString());
  } catch (err) {
    show($("fake-error"), err.message);
    return;
  }
  score.played += 1;
  if (a.correct) score.right += 1;
  $("score").textContent = "score: " + score.right + " / " + score.played;
  document.querySelectorAll("#fake-choices .choice").forEach((b, i) => {
    b.disabled = true;
    b.classList.add(i === a.fake ? "generated" : "real");
  });
  const out = $("fake-result");
  out.replaceChildren();
  const verdict = document.createElement("p");
  verdict.className = a.correct ? "right" : "wrong";
  verdict.textContent = (a.correct ? "Right: " : "Not this time: ") + "equation " + "AB"[a.fake] +
    " was written by the model; the other is real, from " + a.paper + ".";
  out.appendChild(verdict);
  const src = document.createElement("p");
  src.textContent = (a.title ? "\u201c" + a.title + "\u201d. " : "") + (a.license ? "Licence: " + a.license : "");
  out.appendChild(src);
  out.hidden = false;
}

document.addEventListener("DOMContentLoaded", () => {
  $("form").addEventListener("submit", generate);
  $("fake-new").addEventListener("click", newRound);
  loadTopics();
});
