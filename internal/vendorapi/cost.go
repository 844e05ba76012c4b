package vendorapi

import (
	"encoding/json"
	"io"
	"strconv"
)

// maxBody bounds how much of a request body is read for its max_tokens.
const maxBody = 1 << 20

// tokenCost is the token cost of an OpenAI request: its JSON body's max_tokens, an integer ≥ 0.
// Anything else (no body, a body that is not JSON, a missing, fractional, negative or non-numeric
// max_tokens) costs 1, as the smallest request a real API would still count.
func tokenCost(body io.Reader) int64 {
	if body == nil {
		return 1
	}
	data, err := io.ReadAll(io.LimitReader(body, maxBody))
	if err != nil {
		return 1
	}
	var req struct {
		MaxTokens json.RawMessage `json:"max_tokens"`
	}
	if json.Unmarshal(data, &req) != nil || req.MaxTokens == nil {
		return 1
	}
	n, err := strconv.ParseInt(string(req.MaxTokens), 10, 64)
	if err != nil || n < 0 {
		return 1
	}
	return n
}
