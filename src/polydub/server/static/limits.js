"use strict";
// Field limits in the studio (issue 15): every text box the server bounds gets the server's own limit
// (GET /api/limits, from polydub/limits.py) as maxlength and a character counter beside it, so a
// too-long line is seen while typing instead of refused after sending; a file over the upload limit is
// named before it is sent. Needs studio.js (api, $). Works on boxes added later (event delegation).
const FIELD_LIMITS = [
  // [selector, key in /api/limits]
  ['textarea[data-field="text"], textarea[data-field="translation"]', "line_text_chars"],
  ['input[data-field="voice"]', "voice_id_chars"],
  ['input[data-role="text"]', "preview_text_chars"],
  ['input[data-role="rename"], #enrol-name', "name_chars"],
];
const fieldLimits = { values: null };

async function loadLimits() {
  if (fieldLimits.values) return fieldLimits.values;
  try { fieldLimits.values = (await api("/api/limits")).limits; } catch (e) { return null; }
  return fieldLimits.values;
}

function limitFor(el) {
  const row = FIELD_LIMITS.find(([sel]) => el.matches && el.matches(sel));
  return row && fieldLimits.values ? fieldLimits.values[row[1]] : null;
}

function showCount(el) {
  const max = limitFor(el);
  if (!max) return;
  el.maxLength = max;
  let counter = el.nextElementSibling;
  if (!counter || !counter.classList.contains("char-count")) {
    counter = document.createElement("small");
    counter.className = "char-count";
    counter.setAttribute("aria-live", "polite");
    el.insertAdjacentElement("afterend", counter);
  }
  const used = el.value.length;
  counter.textContent = `${used}/${max}`;
  counter.classList.toggle("near-limit", used >= 0.9 * max);
  counter.title = used >= max ? "At the limit: the server takes no more characters here" : "";
}

function checkUploadSize(input) {
  const file = input.files && input.files[0], max = fieldLimits.values && fieldLimits.values.upload_bytes;
  if (!file || !max) return;
  if (file.size > max) {
    showError(`${file.name} is ${(file.size / 1048576).toFixed(0)} MB; this server takes files up to ` +
              `${(max / 1048576).toFixed(0)} MB. Trim the video or ask the operator for a larger --max-upload-mb.`);
    input.value = "";
  }
}

document.addEventListener("focusin", async e => { if (await loadLimits()) showCount(e.target); });
document.addEventListener("input", e => showCount(e.target));
document.addEventListener("change", async e => {
  if (e.target.type === "file" && await loadLimits()) checkUploadSize(e.target);
});
