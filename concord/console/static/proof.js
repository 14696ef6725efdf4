// Verifies an audit entry's inclusion proof in the browser, trusting nothing the server computed:
// the leaf hash from the entry's own bytes (RFC 6962: SHA-256(0x00 || entry)), the audit path up to the root
// (RFC 9162, 2.1.3.2), the root against the signed checkpoint's root line, and the checkpoint's Ed25519
// signature (C2SP signed note) with the hub's verifier key.
(function () {
  "use strict";
  var enc = new TextEncoder();
  function b64(s) { return Uint8Array.from(atob(s), function (c) { return c.charCodeAt(0); }); }
  function cat() {
    var n = 0, i, out, at = 0;
    for (i = 0; i < arguments.length; i++) { n += arguments[i].length; }
    out = new Uint8Array(n);
    for (i = 0; i < arguments.length; i++) { out.set(arguments[i], at); at += arguments[i].length; }
    return out;
  }
  function same(a, b) {
    if (a.length !== b.length) { return false; }
    for (var i = 0; i < a.length; i++) { if (a[i] !== b[i]) { return false; } }
    return true;
  }
  async function sha(bytes) { return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)); }
  async function rootFrom(index, size, leaf, path) {
    var fn = index, sn = size - 1, r = leaf;
    for (var i = 0; i < path.length; i++) {
      if (sn === 0) { return null; }
      if ((fn & 1) === 1 || fn === sn) {
        r = await sha(cat([1], path[i], r));
        if ((fn & 1) === 0) { while ((fn & 1) === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); } }
      } else {
        r = await sha(cat([1], r, path[i]));
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    return sn === 0 ? r : null;
  }
  async function signatureOk(note, vkey) {
    var parts = vkey.split("+"), name = parts[0], raw = b64(parts.slice(2).join("+"));
    var split = note.lastIndexOf("\n\n"), text = note.slice(0, split + 1);
    var lines = note.slice(split + 2).split("\n");
    var key = await crypto.subtle.importKey("raw", raw.slice(1), { name: "Ed25519" }, false, ["verify"]);
    for (var i = 0; i < lines.length; i++) {
      var m = /^\u2014 (\S+) (\S+)$/.exec(lines[i]);
      if (m && m[1] === name) {
        var sig = b64(m[2]);
        if (await crypto.subtle.verify({ name: "Ed25519" }, key, sig.slice(4), enc.encode(text))) { return true; }
      }
    }
    return false;
  }
  async function run() {
    var out = document.getElementById("proof-result");
    var data = JSON.parse(document.getElementById("proof-data").textContent);
    var say = function (ok, text) { out.className = ok ? "verified" : "failed"; out.textContent = text; };
    if (!data.proof) { say(false, out.dataset.none); return; }
    try {
      var leaf = await sha(cat([0], enc.encode(data.body)));
      var note = data.proof.checkpoint, noteLines = note.split("\n");
      var signedRoot = b64(noteLines[2]), size = parseInt(noteLines[1], 10);
      var root = await rootFrom(data.proof.seq, size, leaf, data.proof.proof.map(b64));
      if (!root || !same(root, signedRoot)) { say(false, out.dataset.badPath); return; }
      if (!(await signatureOk(note, data.vkey))) { say(false, out.dataset.badSignature); return; }
      say(true, out.dataset.ok.replace("%(size)s", String(size)));
    } catch (e) {
      say(false, out.dataset.error + " " + e);
    }
  }
  document.addEventListener("DOMContentLoaded", run);
})();
