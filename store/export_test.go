package store

import "context"

// ExecForTest runs a raw statement on the writer; for contract tests only.
func (s *Store) ExecForTest(ctx context.Context, query string, args ...any) error {
	_, err := s.write.ExecContext(ctx, query, args...)
	return err
}

// CountForTest counts the rows of table; for contract tests only.
func (s *Store) CountForTest(ctx context.Context, table string) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n)
	return n, err
}
