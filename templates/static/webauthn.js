// Runs the WebAuthn ceremony for a form that carries its options in
// data-webauthn-get (sign-in) or data-webauthn-create (registration): on
// submit it asks the browser for the credential, puts the credential's JSON
// in the form's hidden "webauthn" input, and submits the form. A failure is
// shown in the page (role="alert") and the user can try again or choose
// another method. No dependencies, no inline script: the page's CSP allows
// script only from 'self'.
(function () {
  "use strict";

  // base64url <-> ArrayBuffer, for browsers without the JSON helpers.
  function toBuffer(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function toBase64url(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function withIDs(list) {
    return (list || []).map(function (d) {
      var c = Object.assign({}, d);
      c.id = toBuffer(d.id);
      return c;
    });
  }

  function requestOptions(o) {
    if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function") {
      return PublicKeyCredential.parseRequestOptionsFromJSON(o);
    }
    var p = Object.assign({}, o);
    p.challenge = toBuffer(o.challenge);
    if (o.allowCredentials) p.allowCredentials = withIDs(o.allowCredentials);
    return p;
  }
  function creationOptions(o) {
    if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function") {
      return PublicKeyCredential.parseCreationOptionsFromJSON(o);
    }
    var p = Object.assign({}, o);
    p.challenge = toBuffer(o.challenge);
    p.user = Object.assign({}, o.user, { id: toBuffer(o.user.id) });
    if (o.excludeCredentials) p.excludeCredentials = withIDs(o.excludeCredentials);
    return p;
  }

  // credentialJSON is the credential as the server parses it
  // (RegistrationResponseJSON or AuthenticationResponseJSON).
  function credentialJSON(cred) {
    if (typeof cred.toJSON === "function") {
      try { return cred.toJSON(); } catch (e) { /* fall back below */ }
    }
    var r = cred.response, resp = { clientDataJSON: toBase64url(r.clientDataJSON) };
    if (r.attestationObject) {
      resp.attestationObject = toBase64url(r.attestationObject);
      if (typeof r.getTransports === "function") resp.transports = r.getTransports();
    } else {
      resp.authenticatorData = toBase64url(r.authenticatorData);
      resp.signature = toBase64url(r.signature);
      if (r.userHandle) resp.userHandle = toBase64url(r.userHandle);
    }
    return {
      id: cred.id,
      rawId: toBase64url(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: resp
    };
  }

  function message(err, creating) {
    switch (err && err.name) {
      case "NotAllowedError":
      case "AbortError":
        return "The security key or passkey check was cancelled or took too long. Try again, or use another method.";
      case "InvalidStateError":
        return creating ? "That security key or passkey is already registered. Use a different one." :
          "That security key or passkey can't be used here. Try again, or use another method.";
      case "SecurityError":
        return "This browser refused to use a security key or passkey on this site. Use another method, or contact your helpdesk.";
      case "NotSupportedError":
        return "This security key or passkey isn't supported. Use a different one, or another method.";
    }
    return "Something went wrong with the security key or passkey. Try again, or use another method.";
  }

  function showError(form, text) {
    var box = document.querySelector(".error-summary[role=alert]");
    if (!box) {
      box = document.createElement("div");
      box.className = "error-summary";
      box.setAttribute("role", "alert");
      box.setAttribute("tabindex", "-1");
      form.parentNode.insertBefore(box, form);
    }
    var p = document.createElement("p");
    p.textContent = text;
    box.replaceChildren(p);
    box.focus();
  }

  function attach(form) {
    var get = form.getAttribute("data-webauthn-get");
    var creating = get === null;
    var raw = creating ? form.getAttribute("data-webauthn-create") : get;
    var busy = false;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (busy) return;
      if (!window.PublicKeyCredential || !navigator.credentials) {
        showError(form, "This browser can't use security keys or passkeys. Use another method.");
        return;
      }
      var button = form.querySelector("button[type=submit]");
      var ceremony;
      try {
        var parsed = JSON.parse(raw);
        var o = parsed.publicKey || parsed;
        ceremony = creating ?
          navigator.credentials.create({ publicKey: creationOptions(o) }) :
          navigator.credentials.get({ publicKey: requestOptions(o) });
      } catch (err) {
        showError(form, message(err, creating));
        return;
      }
      busy = true;
      if (button) button.disabled = true;
      ceremony.then(function (cred) {
        if (!cred) throw new Error("no credential");
        form.elements.namedItem("webauthn").value = JSON.stringify(credentialJSON(cred));
        form.submit(); // submit() fires no submit event: no loop
      }).catch(function (err) {
        busy = false;
        if (button) button.disabled = false;
        showError(form, message(err, creating));
      });
    });
  }

  var forms = document.querySelectorAll("form[data-webauthn-get], form[data-webauthn-create]");
  for (var i = 0; i < forms.length; i++) attach(forms[i]);
})();
