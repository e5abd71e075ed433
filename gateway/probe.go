package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/understudy/understudy/health"
)

// prober sends a one-token chat completion to t. A 2xx, or a 400 (the
// service is up and read our request; some models refuse max_tokens), counts
// as alive; anything else, a timeout or a connection error, as down.
func (g *Gateway) prober(t *target) health.ProbeFunc {
	body := []byte(fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"ping"}],"max_tokens":1}`, t.model))
	return func(ctx context.Context) error {
		req, err := t.up.NewRequest(ctx, t.model, body)
		if err != nil {
			return err
		}
		resp, err := g.client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		if resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusBadRequest {
			return nil
		}
		return fmt.Errorf("probe: HTTP %d", resp.StatusCode)
	}
}
