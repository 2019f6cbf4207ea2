package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"time"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/factors/otp"
	"github.com/gatehouse-id/gatehouse/login/clientip"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// How codes reach people: SMTP or the dev outbox for email; a webhook or
// the dev outbox for texts and calls. The outbox shows every code to
// whoever can load /dev/outbox, so it is only ever used for a loopback
// issuer (a developer's machine).

const (
	gatewayOutbox  = "outbox"
	gatewayWebhook = "webhook"
	gatewayNone    = "none"
)

// smsGateway is sms.gateway with its default filled in.
func (c Config) smsGateway() string {
	if c.SMS.Gateway != "" {
		return c.SMS.Gateway
	}
	if c.loopbackIssuer() {
		return gatewayOutbox
	}
	return gatewayNone
}

// emailOutbox reports whether email codes go to the dev outbox.
// phoneRegions are the regions whose phone numbers are accepted where an
// org unit names none.
func (c Config) phoneRegions() []string {
	regions, _ := otp.ParseRegions(c.Phone.AllowedRegions) // checked by Validate
	return regions
}

func (c Config) emailOutbox() bool { return c.SMTP.Host == "" && c.loopbackIssuer() }

func (c Config) loopbackIssuer() bool {
	u, err := url.Parse(c.Issuer)
	return err == nil && isLoopback(u.Hostname())
}

func (c Config) validateDelivery(bad func(setting, format string, args ...any)) {
	switch c.SMTP.TLS {
	case otp.TLSStartTLS, otp.TLSImplicit, otp.TLSNone:
	default:
		bad("smtp.tls", "%q is not starttls, tls or none", c.SMTP.TLS)
	}
	if c.SMTP.Host != "" {
		if c.SMTP.Port < 1 || c.SMTP.Port > 65535 {
			bad("smtp.port", "%d is not a port number", c.SMTP.Port)
		}
		if a, err := mail.ParseAddress(c.SMTP.From); err != nil || a.Name != "" {
			bad("smtp.from", "must be an email address such as gatehouse@example.org when smtp.host is set")
		}
	}
	switch c.SMS.Gateway {
	case "", gatewayNone:
	case gatewayOutbox:
		if !c.loopbackIssuer() {
			bad("sms.gateway", "outbox is for development only and is refused unless the issuer is localhost or a loopback address: its /dev/outbox page would let anyone read codes; use webhook")
		}
	case gatewayWebhook:
		if u, err := url.Parse(c.SMS.WebhookURL); err != nil || !u.IsAbs() || u.Host == "" {
			bad("sms.webhook_url", "must be an absolute URL when sms.gateway is webhook")
		} else if u.Scheme != "https" && !isLoopback(u.Hostname()) {
			bad("sms.webhook_url", "must use https unless the host is localhost or a loopback address")
		}
		if len(c.SMS.WebhookSecret) < 16 {
			bad("sms.webhook_secret", "must be at least 16 characters when sms.gateway is webhook")
		}
	default:
		bad("sms.gateway", "%q is not webhook, outbox or none", c.SMS.Gateway)
	}
	if _, err := otp.ParseRegions(c.Phone.AllowedRegions); err != nil {
		bad("phone.allowed_regions", "%v", err)
	}
}

// delivery is how messages reach people: the code factors the
// configuration allows, the mailer (nil: no email), how notices are
// texted (nil: they are not), and the dev outbox and the voice factor
// when in use (else nil).
type delivery struct {
	factors []factors.Factor
	mail    otp.Mailer
	text    func(ctx context.Context, to, text string) error
	outbox  *otp.Outbox
	voice   *otp.Voice
}

func newDelivery(cfg Config, sealer *factors.Sealer, store storage.Storage, logger *slog.Logger, now func() time.Time) delivery {
	var d delivery
	if cfg.emailOutbox() || cfg.smsGateway() == gatewayOutbox {
		d.outbox = otp.NewOutbox(now)
	}
	codes := otp.Config{Sealer: sealer, Org: cfg.Organisation.Name, Now: now}
	switch {
	case cfg.SMTP.Host != "":
		d.mail = &otp.SMTP{
			Host: cfg.SMTP.Host, Port: cfg.SMTP.Port, TLS: cfg.SMTP.TLS,
			Username: cfg.SMTP.Username, Password: cfg.SMTP.Password, From: cfg.SMTP.From,
		}
	case d.outbox != nil && cfg.emailOutbox():
		d.mail = d.outbox
	}
	if d.mail != nil {
		d.factors = append(d.factors, otp.NewEmail(d.mail, codes))
	}
	var gw otp.Gateway
	switch cfg.smsGateway() {
	case gatewayWebhook:
		webhook := &otp.Webhook{URL: cfg.SMS.WebhookURL, Secret: []byte(cfg.SMS.WebhookSecret), Now: now}
		gw, d.text = webhook, webhook.SendSMS
	case gatewayOutbox:
		gw, d.text = d.outbox, d.outbox.SendNoticeSMS
	}
	if gw != nil {
		regions := cfg.phoneRegions()
		d.voice = otp.NewVoice(gw, regions, cfg.Issuer, store, logger, codes)
		d.factors = append(d.factors, otp.NewSMS(gw, regions, codes), d.voice)
		if d.outbox != nil {
			d.outbox.OnPress(d.voice.Approve)
		}
	}
	return d
}

// mountDelivery serves the voice callback and, when in use, the dev outbox.
func mountDelivery(mux *http.ServeMux, pages *templates.Templates, box *otp.Outbox, voice *otp.Voice, proxies clientip.Proxies, logger *slog.Logger) {
	if voice != nil {
		mux.Handle("POST "+otp.CallbackPath, voice)
	}
	if box == nil {
		return
	}
	mux.Handle("GET /dev/outbox", loopbackOnly(proxies, func(w http.ResponseWriter, r *http.Request) {
		p := templates.OutboxPage{Page: templates.Page{Title: "Dev outbox"}}
		if r.URL.Query().Get("pressed") != "" {
			p.Notice = "You pressed #. The page that placed the call goes on by itself."
		}
		for _, it := range box.Items() {
			p.Messages = append(p.Messages, templates.OutboxMessage{
				ID: it.ID, Kind: it.Kind, To: it.To, Subject: it.Subject, Text: it.Text, Notice: it.Notice, At: it.At, Token: it.Token, Pressed: it.Pressed,
			})
		}
		pages.Outbox(w, http.StatusOK, p)
	}))
	// Pressing # is a state change: cross-origin posts are refused, and
	// each call's button carries its own random token.
	mux.Handle("POST /dev/outbox/press", http.NewCrossOriginProtection().Handler(loopbackOnly(proxies, func(w http.ResponseWriter, r *http.Request) {
		err := box.Press(r.Context(), r.PostFormValue("call"), r.PostFormValue("token"))
		switch {
		case errors.Is(err, otp.ErrNoCall), errors.Is(err, otp.ErrBadCallback):
			http.Error(w, "That call is not waiting for an answer.", http.StatusNotFound)
			return
		case err != nil:
			logger.ErrorContext(r.Context(), "dev outbox: press #", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		http.Redirect(w, r, "/dev/outbox?pressed=1", http.StatusSeeOther)
	})))
}

// loopbackOnly serves the outbox to this machine only: a loopback issuer
// does not mean a loopback listener (Docker publishes :8080), and the
// outbox shows every code. Both the connection and the client it carries
// must be local: a trusted proxy on this machine may be forwarding someone
// else.
func loopbackOnly(proxies clientip.Proxies, h http.HandlerFunc) http.Handler {
	local := func(addr string) bool {
		ip := net.ParseIP(addr)
		return ip != nil && ip.IsLoopback()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil || !local(host) || !local(proxies.ClientIP(r)) {
			http.Error(w, "The dev outbox is only served to this machine.", http.StatusForbidden)
			return
		}
		h(w, r)
	})
}
