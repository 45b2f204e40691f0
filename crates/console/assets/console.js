// Switchboard console: the live parts (server-sent events, the composer, inline edit).
// Every page works without this script; it only saves reloads.
"use strict";

(function () {
  const csrf = () => {
    const m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : "";
  };

  function alertBox(text) {
    let box = document.getElementById("js-error");
    if (!box) {
      box = document.createElement("p");
      box.id = "js-error";
      box.className = "error";
      box.setAttribute("role", "alert");
      const main = document.getElementById("main");
      main.insertBefore(box, main.firstChild);
    }
    box.textContent = text;
    box.hidden = !text;
  }

  // Posts a form as the browser would, asking for JSON instead of a redirect.
  async function post(form) {
    const body = new URLSearchParams(new FormData(form));
    const res = await fetch(form.action, {
      method: "POST",
      body,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRF-Token": csrf() },
    });
    let answer = {};
    try { answer = await res.json(); } catch (_) { answer = { error: "HTTP " + res.status }; }
    if (!res.ok || answer.ok === false) {
      throw new Error(answer.error || "HTTP " + res.status);
    }
    return answer;
  }

  document.addEventListener("change", (e) => {
    const sel = e.target.closest("select[data-autosubmit]");
    if (!sel) return;
    const form = sel.form;
    // A new tenant has other users and apps: forget the ones chosen in the old one.
    if (sel.name === "tenant") {
      for (const other of form.querySelectorAll("select")) {
        if (other !== sel) other.disabled = true;
      }
    }
    form.submit();
  });

  document.addEventListener("change", (e) => {
    if (e.target.id !== "mention" || !e.target.value) return;
    const box = document.getElementById("composer-text");
    const sep = box.value && !/\s$/.test(box.value) ? " " : "";
    box.value += sep + "@" + e.target.value + " ";
    e.target.value = "";
    box.focus();
  });

  function cancelReply() {
    const r = document.getElementById("replying");
    if (!r) return;
    r.hidden = true;
    document.getElementById("reply-to").value = "";
    const thread = r.querySelector('input[name="thread"]');
    if (thread) thread.checked = false;
  }

  document.addEventListener("click", (e) => {
    const reply = e.target.closest("button[data-reply]");
    if (reply) {
      document.getElementById("reply-to").value = reply.dataset.reply;
      document.getElementById("reply-quote").textContent = reply.dataset.quote;
      document.getElementById("replying").hidden = false;
      document.getElementById("composer-text").focus();
      return;
    }
    if (e.target.id === "cancel-reply") {
      cancelReply();
      document.getElementById("composer-text").focus();
      return;
    }
    const edit = e.target.closest("button[data-edit]");
    if (edit) {
      // The edit box exists only while editing: one "Edit message" box on the page.
      const article = edit.closest("article");
      for (const other of document.querySelectorAll("form.edit")) {
        if (other.closest("article") !== article) other.remove();
      }
      let form = article.querySelector("form.edit");
      if (!form) {
        form = article.querySelector("template.edit-tpl").content.firstElementChild.cloneNode(true);
        article.appendChild(form);
      }
      form.querySelector("textarea").focus();
      return;
    }
    const cancel = e.target.closest("button[data-cancel-edit]");
    if (cancel) {
      const article = cancel.closest("article");
      cancel.closest("form").remove();
      const again = article.querySelector("button[data-edit]");
      if (again) again.focus();
      return;
    }
    const copy = e.target.closest("button[data-copy]");
    if (copy) {
      const pre = copy.previousElementSibling;
      if (navigator.clipboard) navigator.clipboard.writeText(pre.textContent);
      copy.textContent = "Copied";
    }
  });

  document.addEventListener("submit", async (e) => {
    const form = e.target;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      e.preventDefault();
      return;
    }
    const composer = form.id === "composer";
    if (!composer && !("jsPost" in form.dataset)) return;
    e.preventDefault();
    const button = form.querySelector('button[type="submit"]');
    if (button) button.disabled = true;
    try {
      await post(form);
      alertBox("");
      if (composer) {
        form.querySelector("textarea").value = "";
        cancelReply();
        form.querySelector("textarea").focus();
      } else if (form.classList.contains("edit")) {
        form.remove();
      }
    } catch (err) {
      alertBox(err.message);
    } finally {
      if (button) button.disabled = false;
    }
  });

  // Enter sends, Shift+Enter starts a new line (as chat apps do).
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" || e.shiftKey || e.isComposing) return;
    if (e.target.id === "composer-text") {
      e.preventDefault();
      e.target.form.requestSubmit();
    }
  });

  function fragment(html) {
    const t = document.createElement("template");
    t.innerHTML = html.trim();
    return t.content.firstElementChild;
  }

  const timeline = document.querySelector("#timeline[data-live]");
  if (timeline) {
    const source = new EventSource(timeline.dataset.live);
    source.addEventListener("message", (e) => {
      const m = JSON.parse(e.data);
      // Older than the page shows: that is what "Older messages" is for.
      const first = timeline.querySelector("article");
      if (first && m.position < Number(first.dataset.position)) return;
      const old = timeline.querySelector('article[data-position="' + m.position + '"]');
      if (old && old.dataset.version === m.version) return;
      const node = fragment(m.html);
      if (old) {
        // Keep an edit in progress.
        const editing = old.querySelector("form.edit");
        if (editing && editing.contains(document.activeElement)) return;
        old.replaceWith(node);
        return;
      }
      const empty = document.getElementById("empty");
      if (empty) empty.remove();
      const nearBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 120;
      const later = Array.from(timeline.children).find((a) => Number(a.dataset.position) > m.position);
      timeline.insertBefore(node, later || null);
      if (nearBottom && !later) node.scrollIntoView({ block: "nearest" });
    });
    source.addEventListener("problem", (e) => alertBox(JSON.parse(e.data).error));
  }

  const table = document.querySelector("#deliveries[data-live]");
  if (table) {
    const body = table.tBodies[0];
    const source = new EventSource(table.dataset.live);
    source.addEventListener("delivery", (e) => {
      const d = JSON.parse(e.data);
      const old = body.querySelector('tr[data-event="' + CSS.escape(d.event_id) + '"]');
      if (old && old.dataset.version === d.version) return;
      const t = document.createElement("template");
      t.innerHTML = "<table><tbody>" + d.html.trim() + "</tbody></table>";
      const row = t.content.querySelector("tr");
      const none = document.getElementById("no-deliveries");
      if (none) none.remove();
      if (old) old.replaceWith(row);
      else body.insertBefore(row, body.firstChild);
    });
  }

  // The page shows the last messages: start at the bottom.
  if (timeline && timeline.lastElementChild && !location.search.includes("before=")) {
    timeline.lastElementChild.scrollIntoView({ block: "end" });
  }
})();
