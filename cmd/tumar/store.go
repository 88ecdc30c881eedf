package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tumarproject/tumar/gateway/config"
	"github.com/tumarproject/tumar/gateway/store"
)

func newStoreCmd() *cobra.Command {
	c := &cobra.Command{Use: "store", Short: "Maintain the gateway's database"}
	var cfgPath string
	c.PersistentFlags().StringVarP(&cfgPath, "config", "c", "tumar.yaml", "configuration file")
	c.AddCommand(&cobra.Command{
		Use:   "vacuum",
		Short: "Rewrite the SQLite database compactly, with 8 KiB pages; the gateway must be stopped",
		Long: `vacuum rewrites the SQLite database compactly: a database made by an
earlier version gets the 8 KiB pages of a new one (a tenth less CPU a record
on the write path), and one whose audit log was truncated gives back the
space of the entries removed.

Stop the gateway and every other process that opens the database (connector
runs, tumar audit, tumar xroad) first: vacuum refuses to run beside them. It
needs up to twice the database's size free, beside it and in the temporary
directory (TMPDIR), and a crash leaves the database as it was. Take a backup
first all the same.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			if cfg.Store.Type != "sqlite" {
				return fmt.Errorf("the store is %s: vacuum is for SQLite (on PostgreSQL, autovacuum or VACUUM does this)", cfg.Store.Type)
			}
			rep, err := store.VacuumSQLite(cmd.Context(), cfg.Store.Path)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %.1f MB → %.1f MB, %d-byte pages → %d\n", cfg.Store.Path,
				float64(rep.BytesBefore)/1e6, float64(rep.BytesAfter)/1e6, rep.PageSizeBefore, rep.PageSizeAfter)
			return nil
		},
	})
	return c
}
