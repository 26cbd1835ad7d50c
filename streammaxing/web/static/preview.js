// Live preview of the message template: posts the editor's text to the server, which renders
// it with the workers' renderer, and redraws the Discord-like box (or the field's errors).
(function () {
  "use strict";
  var form = document.getElementById("config-form");
  var box = document.getElementById("preview");
  var editor = document.getElementById("message_template");
  var problem = document.getElementById("preview-error");
  if (!form || !box || !editor) { return; }
  var timer = null;

  // A role mention <@&id> reads "@Role Name", as Discord shows it; the names are the role
  // picker's (its options read "@Name"). Unknown roles stay as they are.
  function named(value) {
    var picker = document.getElementById("mention_role_id");
    return String(value).replace(/<@&(\d+)>/g, function (mention, id) {
      var options = picker && picker.options ? picker.options : [];
      for (var i = 0; i < options.length; i += 1) {
        if (options[i].value === id) { return options[i].textContent; }
      }
      return mention;
    });
  }

  function text(tag, cls, value) {
    var node = document.createElement(tag);
    node.className = cls;
    node.textContent = named(value);
    return node;
  }

  function draw(payload) {
    box.replaceChildren();
    box.appendChild(text("p", "d-content", payload.content || ""));
    (payload.embeds || []).forEach(function (e) {
      var embed = document.createElement("div");
      embed.className = "d-embed";
      if (e.author) { embed.appendChild(text("p", "d-author", e.author.name || "")); }
      if (e.title) { embed.appendChild(text("p", "d-title", e.title)); }
      if (e.description) { embed.appendChild(text("p", "d-desc", e.description)); }
      (e.fields || []).forEach(function (f) {
        embed.appendChild(text("p", "d-field", f.name + " " + f.value));
      });
      if (e.footer) { embed.appendChild(text("p", "d-footer", e.footer.text || "")); }
      box.appendChild(embed);
    });
  }

  function refresh() {
    var body = new URLSearchParams();
    body.set("csrf_token", form.elements.csrf_token.value);
    body.set("message_template", editor.value);
    fetch(box.dataset.previewUrl, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (answer) {
        if (answer.payload) {
          problem.hidden = true;
          editor.removeAttribute("aria-invalid");
          draw(answer.payload);
        } else {
          var errors = answer.errors || {};
          problem.textContent = Object.keys(errors).map(function (k) { return k + ": " + errors[k]; }).join("; ");
          problem.hidden = false;
          editor.setAttribute("aria-invalid", "true");
        }
      });
  }

  editor.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  });
}());
