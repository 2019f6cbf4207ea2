package admin

// Routes of the areas still to come; each area's file replaces its stub.

func (h *Handler) userRoutes(get, post func(string, func(*request))) {}
