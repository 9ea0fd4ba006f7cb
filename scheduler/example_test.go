package scheduler_test

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/internal/config"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/scheduler"
)

// Running the scheduler inside another role (as `nudge run` does): it leads
// or follows on its own; Stop releases leadership.
func ExampleNew() {
	ctx := context.Background()
	d, err := sqlx.Open("postgres", os.Getenv("NUDGE_DATABASE_URL"))
	if err != nil {
		return
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	s := scheduler.New(d, time.Now, log, scheduler.LoadConfig(&config.Env{}))
	if err := s.Start(ctx); err != nil {
		return
	}
	defer s.Stop()
	_ = s.Lag() // scheduler lag, for the metrics
}

// Mounting the transactional trigger API: the mux checks each route's
// action (users.CampaignsTrigger here) against the caller's role.
func ExampleAPI_Register() {
	var d *sqlx.DB
	mux := server.NewMux()
	scheduler.NewAPI(d, scheduler.APIConfig{}).Register(mux)
}
