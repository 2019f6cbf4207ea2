package admin

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/gatehouse-id/gatehouse/login/notify"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// The notifications page turns each event people are told of on or off:
// global admins only.

func (h *Handler) notificationRoutes(get, post func(string, func(*request))) {
	get("/admin/notifications", h.showNotifications)
	post("/admin/notifications", h.saveNotifications)
}

func (h *Handler) showNotifications(rq *request) {
	if !rq.globalAllowed("", "settings.viewed") {
		return
	}
	notice := ""
	if rq.r.URL.Query().Get("done") == "saved" {
		notice = "Saved. Messages already waiting for an event turned off will not be sent."
	}
	settings, err := h.store.GetSettings(rq.ctx())
	if err != nil {
		rq.serverError(err)
		return
	}
	p := templates.NotificationsPage{Page: rq.page("Notifications", "Notifications"), Notice: notice}
	for _, e := range notify.Events {
		p.Events = append(p.Events, templates.Choice{Value: e.Name, Label: e.Label, Selected: notify.On(settings, e.Name)})
	}
	h.pages.AdminNotifications(rq.w, http.StatusOK, p)
}

func (h *Handler) saveNotifications(rq *request) {
	if !rq.globalAllowed("", "settings.notices_changed") {
		return
	}
	if err := h.svc.SetNotices(rq.ctx(), rq.actor, rq.r.PostForm["on"]); err != nil {
		rq.serverError(err)
		return
	}
	http.Redirect(rq.w, rq.r, "/admin/notifications?done=saved", http.StatusSeeOther)
}

// SetNotices turns on the events named in on, and every other event
// people are told of off, auditing what changed. Only global admins may.
func (s *Service) SetNotices(ctx context.Context, a Actor, on []string) error {
	if err := s.globalOnly(ctx, a, "", "settings.notices_changed"); err != nil {
		return err
	}
	changed := map[string]string{}
	settings, err := s.store.UpdateSettings(ctx, func(st storage.Settings) (storage.Settings, error) {
		st.Notices = maps.Clone(st.Notices)
		if st.Notices == nil {
			st.Notices = map[string]bool{}
		}
		clear(changed)
		for _, e := range notify.Events {
			want := slices.Contains(on, e.Name)
			if want != notify.On(st, e.Name) {
				changed[e.Name] = strconv.FormatBool(want)
			}
			st.Notices[e.Name] = want
		}
		return st, nil
	})
	if err != nil {
		return fmt.Errorf("update settings: %w", err)
	}
	if s.notifier != nil {
		s.notifier.SetSettings(settings)
	}
	if len(changed) > 0 {
		s.audit(ctx, a, storage.User{}, "settings.notices_changed", storage.OutcomeSuccess, changed)
	}
	return nil
}
