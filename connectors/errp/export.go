package errp

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/store"
)

// Export is the register's second mode, for pilots: instead of calls through
// Tunduk, the register writes its case events to an export table in
// PostgreSQL, and the gateway polls it for new and changed rows:
//
//	CREATE TABLE errp_case_events_export (
//	    event_id text PRIMARY KEY, report_id text NOT NULL, register_case_id text NOT NULL,
//	    event text NOT NULL, article text NOT NULL, previous_article text,
//	    event_date date NOT NULL, updated_at timestamptz NOT NULL);
//
// A changed row is a new version of its event (its id is suffixed with the
// row's updated_at), so corrections are recorded too.
type Export struct {
	Pool   *pgxpool.Pool
	Table  string // default errp_case_events_export
	Agency string // the register's agency id
}

var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}(\.[a-z_][a-z0-9_]{0,62})?$`)

// PollReport says what a poll did.
type PollReport struct {
	Recorded, Duplicates int
	Refused              []string // row ids and reasons, never values
	Cursor               time.Time
}

// Poll records the rows updated after since (at most limit, oldest first)
// and returns the cursor to poll from next. A row the gateway refuses (bad
// data, a referral it does not know) is reported and the poll goes on; a
// store failure stops it, and the next poll repeats from the cursor.
func (x *Export) Poll(ctx context.Context, cases store.CaseStore, since time.Time, limit int, revision string) (*PollReport, error) {
	table := x.Table
	if table == "" {
		table = "errp_case_events_export"
	}
	if !tableName.MatchString(table) {
		return nil, fmt.Errorf("errp: %q is not a table name", table)
	}
	rows, err := x.Pool.Query(ctx, `SELECT event_id, report_id, register_case_id, event, article, COALESCE(previous_article, ''),
		to_char(event_date, 'YYYY-MM-DD'), updated_at FROM `+table+` WHERE updated_at > $1 ORDER BY updated_at, event_id LIMIT $2`, since, limit)
	if err != nil {
		return nil, fmt.Errorf("errp: read the export table: %w", err)
	}
	type row struct {
		ev      Event
		updated time.Time
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		err := r.Scan(&x.ev.EventID, &x.ev.ReportID, &x.ev.RegisterCaseID, &x.ev.Kind, &x.ev.Article, &x.ev.PreviousArticle, &x.ev.Date, &x.updated)
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("errp: read the export table: %w", err)
	}
	rep := &PollReport{Cursor: since}
	for _, r := range got {
		ev := r.ev
		id := ev.EventID
		err := ev.Check()
		ev.EventID = id + "@" + r.updated.UTC().Format(time.RFC3339Nano)
		if err != nil {
			rep.Refused = append(rep.Refused, "row "+strconv.Quote(id)+": "+err.Error())
		} else if dup, err := Record(ctx, cases, x.Agency, &ev, map[string]string{"source": "export_table", "export_row": id}, revision); err != nil {
			var ge *gateway.Error
			if !errors.As(err, &ge) || ge.Status >= 500 {
				return rep, err
			}
			rep.Refused = append(rep.Refused, "row "+strconv.Quote(id)+": "+ge.Message)
		} else if dup {
			rep.Duplicates++
		} else {
			rep.Recorded++
		}
		rep.Cursor = r.updated
	}
	return rep, nil
}
