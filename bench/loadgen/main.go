// Command loadgen drives Caisse tills against pos-api over loopback HTTP for the benchmarks: each till hands
// over a 3-line basket and finalizes it with its next ticket number, one ticket at a time, as a real till does. It is
// written in Go so that the load generator takes as little as possible of the CPU it shares with what it measures.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

type till struct {
	Serial     string   `json:"serial"`
	Secret     string   `json:"secret"`
	NextNumber int      `json:"next_number"`
	Categories []string `json:"categories"`
	ProductID  string   `json:"product_id"`
	Price      int      `json:"price"`
	mu         sync.Mutex
}

type config struct {
	PosAPI    string  `json:"pos_api"`
	Mode      string  `json:"mode"` // "sustain" or "paced"
	DurationS float64 `json:"duration_s"`
	Rate      float64 `json:"rate"`
	Tills     []*till `json:"tills"`
}

type result struct {
	Sold        int64     `json:"sold"`
	Failed      int64     `json:"failed"`
	ElapsedS    float64   `json:"elapsed_s"`
	LatenciesMs []float64 `json:"latencies_ms"`
	// The slowest calls, each as [seconds from the start of the run when it was sent, latency in ms]: when a
	// tail happens says more about its cause (a stall of everything, or calls spread over the run) than its size.
	Slowest     [][2]float64 `json:"slowest"`
	Errors      []string     `json:"errors"`
	NextNumbers []int        `json:"next_numbers"`
}

// newID is the id a till gives what it creates: time-ordered (UUIDv7), as Caisse's tills and services make
// them, so that the keys of a day's sales sit side by side in the database's indexes.
func newID() string {
	return uuid.Must(uuid.NewV7()).String()
}

type seller struct {
	client *http.Client
	api    string
	mu     sync.Mutex
	began  time.Time
	lat    []float64
	sent   [][2]float64
	errors []string
	sold   atomic.Int64
	failed atomic.Int64
}

func (s *seller) fail(msg string) {
	s.failed.Add(1)
	s.mu.Lock()
	if len(s.errors) < 20 {
		s.errors = append(s.errors, msg)
	}
	s.mu.Unlock()
}

func (s *seller) do(method, url string, t *till, body any) (int, []byte, error) {
	payload, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, url, bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Device-Serial", t.Serial)
	req.Header.Set("X-Device-Secret", t.Secret)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// sell rings one 3-line ticket: two weighed second-hand items and one catalogue product, paid in cash. The
// till hands the basket over with its finalize, as a till does at payment (one call, basket saved and finalized).
func (s *seller) sell(t *till, n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	basket := newID()
	total := 350 + 200 + t.Price
	content := map[string]any{
		"lines": []map[string]any{
			{"line_id": newID(), "category_id": t.Categories[n%len(t.Categories)], "price": 350, "weight_grams": 1250},
			{"line_id": newID(), "category_id": t.Categories[(n+1)%len(t.Categories)], "price": 200, "weight_grams": 180},
			{"line_id": newID(), "product_id": t.ProductID, "quantity": 1},
		},
		"payments": []map[string]any{
			{"payment_id": newID(), "method": "cash", "amount": total, "tendered": total + (1000 - total%1000)},
		},
		"pickup_number": "12",
	}
	started := time.Now()
	status, data, err := s.do("POST", s.api+"/v1/baskets/"+basket+"/finalize", t,
		map[string]any{"number": t.NextNumber, "version": 0, "content": content})
	elapsed := float64(time.Since(started).Microseconds()) / 1000
	if err != nil || status != 201 {
		s.fail(fmt.Sprintf("finalize %d %v %.200s", status, err, data))
		return
	}
	t.NextNumber++
	s.sold.Add(1)
	s.mu.Lock()
	s.lat = append(s.lat, elapsed)
	s.sent = append(s.sent, [2]float64{started.Sub(s.began).Seconds(), elapsed})
	s.mu.Unlock()
}

func main() {
	var cfg config
	if err := json.NewDecoder(os.Stdin).Decode(&cfg); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen: bad config:", err)
		os.Exit(2)
	}
	transport := &http.Transport{MaxIdleConns: 4 * len(cfg.Tills), MaxIdleConnsPerHost: 4 * len(cfg.Tills)}
	s := &seller{client: &http.Client{Transport: transport, Timeout: 30 * time.Second}, api: cfg.PosAPI}
	duration := time.Duration(cfg.DurationS * float64(time.Second))
	began := time.Now()
	s.began = began
	var wg sync.WaitGroup
	switch cfg.Mode {
	case "sustain":
		deadline := began.Add(duration)
		for _, t := range cfg.Tills {
			wg.Add(1)
			go func(t *till) {
				defer wg.Done()
				for n := 0; time.Now().Before(deadline); n++ {
					s.sell(t, n)
				}
			}(t)
		}
	case "paced":
		total := int(cfg.Rate * cfg.DurationS)
		interval := time.Duration(float64(time.Second) / cfg.Rate)
		for n := 0; n < total; n++ {
			time.Sleep(time.Until(began.Add(time.Duration(n) * interval)))
			wg.Add(1)
			go func(t *till, n int) {
				defer wg.Done()
				s.sell(t, n)
			}(cfg.Tills[n%len(cfg.Tills)], n)
		}
	default:
		fmt.Fprintln(os.Stderr, "loadgen: mode is sustain or paced")
		os.Exit(2)
	}
	wg.Wait()
	sort.Float64s(s.lat)
	sort.Slice(s.sent, func(i, j int) bool { return s.sent[i][1] > s.sent[j][1] })
	slowest := s.sent[:min(len(s.sent), 20)]
	out := result{Sold: s.sold.Load(), Failed: s.failed.Load(), ElapsedS: time.Since(began).Seconds(), LatenciesMs: s.lat, Slowest: slowest, Errors: s.errors}
	for _, t := range cfg.Tills {
		out.NextNumbers = append(out.NextNumbers, t.NextNumber)
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
}
