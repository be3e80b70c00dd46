"use strict";
// Languages offered in the popup; the server tells, when a session starts, if a pair cannot be dubbed.
const POLYDUB_LANGUAGES = [["en", "English"], ["es", "Spanish"], ["pt", "Portuguese"], ["fr", "French"],
  ["de", "German"], ["it", "Italian"], ["ru", "Russian"], ["ca", "Catalan"], ["hi", "Hindi"], ["ja", "Japanese"],
  ["zh", "Chinese"]];

function fillLanguages(select, withAuto) {
  select.innerHTML = (withAuto ? '<option value="auto">Detect</option>' : "") +
    POLYDUB_LANGUAGES.map(([code, name]) => `<option value="${code}">${name}</option>`).join("");
}
