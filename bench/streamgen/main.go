// Command streamgen holds thousands of Caisse tills on the notifier's config stream (WebSocket, protocol in
// libs/contracts/src/caisse_contracts/stream.py) for the benchmarks, and measures when each till receives a change.
// It is written in Go so that 10,000 connections take little of the two cores it shares with the notifier under
// test: one goroutine per till reads its connection, acknowledges inline and answers the notifier's pings.
//
// A till connects with `Authorization: Bearer <token>`, expects `hello`, sends `{"type":"resume","position":P}`
// (P: its last acknowledged position, at first the job's), reads everything, acknowledges the positions it receives
// (`{"type":"ack","position":N}`, at most one ack per till per 500 ms, plus one at once after `synced`) and notes
// the local receive time (wall clock, unix ns) of every message about an entity (change, item, removed).
//
// # Line protocol (one JSON value per line both ways)
//
// stdin, first: the job.
//
//	{"url": "ws://127.0.0.1:PORT/v1/stream", "mode": "connect" | "storm",
//	 "tills": [{"pos_id": "...", "token": "...", "position": P or null}, ...],
//	 "position": P or null,          // the default resume position of a till that names none
//	 "dial_concurrency": 500,         // dials (TCP + WebSocket handshake) in flight at once
//	 "connect_timeout_s": 300,        // the first connection of every till, retries included
//	 "retry_max_ms": 1000,            // the backoff's ceiling between two dials of one till
//	 "half_open_s": 0,                // > 0: a connection silent that long (no message, ping or pong) is dead
//	 "ping_s": 0}                     // > 0: every till pings the notifier this often (its pongs keep it alive)
//
// The url's host must be a loopback address: the benchmark runs on one machine and never listens elsewhere.
//
// In "connect" mode a connection that ends is a failure; in "storm" mode its till reconnects at once (no wait
// before the first retry, then a short backoff while the notifier is away) and resumes from its last ack. A close
// with 4400, 4401 or 4403, or a handshake refused with a 4xx status, is a failure in both modes.
//
// stdout, first: once every till is synced or failed (or at connect_timeout_s):
//
//	{"event": "synced", "count": 9999, "failed": 1, "tills": 10000, "timed_out": false, "elapsed_ms": 8123.4,
//	 "failures": {...}, "nofile": {"soft": ..., "hard": ..., "needed": ..., "enough": true}}
//
// then, for every command read on stdin, one answer:
//
//	{"cmd": "watch", "entity_id": "...", "version": N, "deadline_s": S, "expected": [pos ids] or null, "linger_s": L}
//	→ {"event": "watch", "entity_id", "version", "expected": n, "received": n, "missing": n, "unexpected": n,
//	   "times_ns": [receive time of every expected till that got it, unix ns], "missing_pos_ids": [≤ 20],
//	   "unexpected_pos_ids": [≤ 20], "waited_ms": ...}
//	  A till received the change when it got any message (change, item, removed) for entity_id at version N, before
//	  or after the command (each till keeps its last 64 receipts). expected null: every till should get it; else
//	  only those, and any other till that gets it counts as unexpected. The answer comes when every expected till
//	  got it (then after linger_s more, to catch late unexpected receipts) or at deadline_s.
//
//	{"cmd": "storm", "deadline_s": S}
//	→ {"event": "storm", "tills": n, "disconnected": n, "caught_up": n, "not_caught_up": n,
//	   "catch_up_ms": [per till caught up: its synced after reconnecting − its first disconnect],
//	   "first_disconnect_ns", "first_synced_ns" (the first till back), "last_synced_ns",
//	   "elapsed_ms": last_synced − first_disconnect, "reconnects": n (dials after the first, all storms together)}
//	  Sent once every till still alive got `synced` again after a disconnect, or at deadline_s; the next storm
//	  counts from there.
//
//	{"cmd": "stats"} → {"event": "stats", ...} (see stats below)
//	{"cmd": "close"} or the end of stdin → every connection closed (1000), then {"event": "done", ...} and exit.
//
// stats: "messages" (per till, in the job's order), "messages_total", "acks_total", "reconnects",
// "closes_by_code" (every end of a connection, 1006: dropped without a close frame), "failures" ({"count",
// "by_code", "first": [{"pos_id", "close_code", "reason", "http_status", "error"}, ≤ 100]}) and "memory"
// (runtime.MemStats and the process's peak RSS).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

const (
	ackEvery     = 500 * time.Millisecond
	helloWait    = 15 * time.Second
	receiptsKept = 64
	failuresKept = 100
	listedIDs    = 20
)

type tillJob struct {
	PosID    string `json:"pos_id"`
	Token    string `json:"token"`
	Position *int64 `json:"position"`
}

type job struct {
	URL              string    `json:"url"`
	Mode             string    `json:"mode"`
	Tills            []tillJob `json:"tills"`
	Position         *int64    `json:"position"`
	DialConcurrency  int       `json:"dial_concurrency"`
	ConnectTimeoutS  float64   `json:"connect_timeout_s"`
	RetryMaxMs       float64   `json:"retry_max_ms"`
	HalfOpenS        float64   `json:"half_open_s"`
	PingS            float64   `json:"ping_s"`
	HandshakeTimeout float64   `json:"handshake_timeout_s"`
}

type command struct {
	Cmd       string    `json:"cmd"`
	EntityID  string    `json:"entity_id"`
	Version   int64     `json:"version"`
	DeadlineS float64   `json:"deadline_s"`
	LingerS   float64   `json:"linger_s"`
	Expected  *[]string `json:"expected"`
}

type failure struct {
	PosID      string `json:"pos_id"`
	CloseCode  int    `json:"close_code,omitempty"`
	Reason     string `json:"reason,omitempty"`
	HTTPStatus int    `json:"http_status,omitempty"`
	Error      string `json:"error,omitempty"`
}

type receipt struct {
	entity  string
	version int64
	at      int64
}

// till is one connection's state. mu guards the connection's writes, the ack state and the receipts.
type till struct {
	idx    int
	posID  string
	header http.Header
	start  int64 // the job's resume position, -1: none

	mu        sync.Mutex
	conn      *websocket.Conn
	acked     int64
	pending   int64
	lastAckAt time.Time
	timer     *time.Timer
	receipts  []receipt
	next      int
	downAt    int64
	backAt    int64
	ever      bool

	messages atomic.Int64
}

type gen struct {
	job       job
	tills     []*till
	dialer    websocket.Dialer
	dials     chan struct{}
	storm     bool
	retryMax  time.Duration
	halfOpen  time.Duration
	pingEvery time.Duration
	began     time.Time
	deadline  time.Time // of the first connections
	closing   chan struct{}
	wg        sync.WaitGroup

	changed   chan struct{}
	synced    atomic.Int64
	failed    atomic.Int64
	down      atomic.Int64
	back      atomic.Int64
	acks      atomic.Int64
	reconnect atomic.Int64
	watching  atomic.Pointer[watch]

	mu       sync.Mutex // guards failures and closes
	failures []failure
	byCode   map[string]int
	closes   map[string]int

	outMu sync.Mutex
	out   *json.Encoder
}

type watch struct {
	entity     string
	version    int64
	expected   []bool
	count      int64
	times      []atomic.Int64
	received   atomic.Int64
	unexpected atomic.Int64
}

func (w *watch) note(t *till, entity string, version, at int64) {
	if entity != w.entity || version != w.version || !w.times[t.idx].CompareAndSwap(0, at) {
		return
	}
	if w.expected[t.idx] {
		w.received.Add(1)
	} else {
		w.unexpected.Add(1)
	}
}

func (g *gen) signal() {
	select {
	case g.changed <- struct{}{}:
	default:
	}
}

func (g *gen) emit(v any) {
	g.outMu.Lock()
	defer g.outMu.Unlock()
	_ = g.out.Encode(v)
}

// waitFor returns when done() holds or at the deadline, woken by the tills' signals (and every 100 ms, so that a
// signal consumed by an earlier wait costs no more than that).
func (g *gen) waitFor(deadline time.Time, done func() bool) bool {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !done() {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		timer := time.NewTimer(left)
		select {
		case <-g.changed:
		case <-tick.C:
		case <-timer.C:
		}
		timer.Stop()
	}
	return true
}

func (g *gen) fail(t *till, f failure) {
	f.PosID = t.posID
	g.mu.Lock()
	if len(g.failures) < failuresKept {
		g.failures = append(g.failures, f)
	}
	key := "error"
	if f.CloseCode != 0 {
		key = strconv.Itoa(f.CloseCode)
	} else if f.HTTPStatus != 0 {
		key = "http " + strconv.Itoa(f.HTTPStatus)
	}
	g.byCode[key]++
	g.mu.Unlock()
	g.failed.Add(1)
	g.signal()
}

func (g *gen) closed(code int) {
	g.mu.Lock()
	g.closes[strconv.Itoa(code)]++
	g.mu.Unlock()
}

func (g *gen) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-g.closing:
		return false
	}
}

// backoff is the wait before a till's next dial: none before the first retry, then 50 ms doubling up to
// retry_max_ms, each drawn in its upper half so that thousands of tills do not come back in step.
func (g *gen) backoff(attempt int) time.Duration {
	if attempt == 0 {
		return 0
	}
	d := 50 * time.Millisecond << min(attempt-1, 10)
	d = min(d, g.retryMax)
	return d/2 + rand.N(d/2+1)
}

func (g *gen) dial(t *till) (*websocket.Conn, int, error) {
	select {
	case g.dials <- struct{}{}:
	case <-g.closing:
		return nil, 0, errors.New("closing")
	}
	defer func() { <-g.dials }()
	conn, resp, err := g.dialer.Dial(g.job.URL, t.header)
	status := 0
	if resp != nil {
		status = resp.StatusCode
		if resp.Body != nil {
			resp.Body.Close()
		}
	}
	return conn, status, err
}

func permanent(code int) bool {
	return code == 4400 || code == 4401 || code == 4403
}

// run holds one till on the stream until the generator closes, or its connection fails for good.
func (g *gen) run(t *till) {
	defer g.wg.Done()
	attempt := 0
	for {
		select {
		case <-g.closing:
			return
		default:
		}
		conn, status, err := g.dial(t)
		if err != nil {
			if status >= 400 && status < 500 {
				g.fail(t, failure{HTTPStatus: status, Error: err.Error()})
				return
			}
			if !t.synced() && time.Now().After(g.deadline) {
				g.fail(t, failure{HTTPStatus: status, Error: err.Error()})
				return
			}
			attempt++
			g.reconnect.Add(1)
			if !g.sleep(g.backoff(attempt)) {
				return
			}
			continue
		}
		code, reason, err := g.session(t, conn)
		select {
		case <-g.closing:
			return
		default:
		}
		g.closed(code)
		if permanent(code) || !g.storm {
			f := failure{CloseCode: code, Reason: reason}
			if err != nil && code == websocket.CloseAbnormalClosure {
				f.Error = err.Error()
			}
			g.fail(t, f)
			return
		}
		t.mu.Lock()
		if t.downAt == 0 {
			t.downAt = time.Now().UnixNano()
			g.down.Add(1)
		}
		if t.backAt != 0 {
			t.backAt = 0
			g.back.Add(-1)
		}
		t.mu.Unlock()
		attempt = 0
		g.reconnect.Add(1)
	}
}

// kind is a message's type, read without allocating.
type kind uint8

const (
	kOther kind = iota
	kHello
	kChange
	kItem
	kRemoved
	kReset
	kSynced
)

func (k *kind) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"hello"`:
		*k = kHello
	case `"change"`:
		*k = kChange
	case `"item"`:
		*k = kItem
	case `"removed"`:
		*k = kRemoved
	case `"reset"`:
		*k = kReset
	case `"synced"`:
		*k = kSynced
	default:
		*k = kOther
	}
	return nil
}

// optInt is an integer that may be null or absent (set: false).
type optInt struct {
	set bool
	v   int64
}

func (o *optInt) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		o.set = false
		return nil
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	o.set, o.v = err == nil, v
	return err
}

type message struct {
	Type     kind   `json:"type"`
	Position optInt `json:"position"`
	EntityID string `json:"entity_id"`
	Version  optInt `json:"version"`
}

func closeOf(err error) (int, string) {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code, ce.Text
	}
	return websocket.CloseAbnormalClosure, ""
}

// session speaks the protocol on one connection until it ends, and returns how it ended.
func (g *gen) session(t *till, conn *websocket.Conn) (int, string, error) {
	defer conn.Close()
	var buf bytes.Buffer
	var m message
	read := func() error {
		_, r, err := conn.NextReader()
		if err != nil {
			return err
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			return err
		}
		m = message{}
		return json.Unmarshal(buf.Bytes(), &m)
	}
	_ = conn.SetReadDeadline(time.Now().Add(helloWait))
	if err := read(); err != nil {
		code, reason := closeOf(err)
		return code, reason, err
	}
	if m.Type != kHello {
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4400, "hello expected"),
			time.Now().Add(time.Second))
		return 4400, "the first message is not hello", nil
	}
	t.messages.Add(1)
	if g.halfOpen > 0 {
		ping := conn.PingHandler()
		conn.SetPingHandler(func(data string) error {
			_ = conn.SetReadDeadline(time.Now().Add(g.halfOpen))
			return ping(data)
		})
		conn.SetPongHandler(func(string) error {
			return conn.SetReadDeadline(time.Now().Add(g.halfOpen))
		})
		_ = conn.SetReadDeadline(time.Now().Add(g.halfOpen))
	} else {
		_ = conn.SetReadDeadline(time.Time{})
	}
	if g.pingEvery > 0 {
		var pinger *time.Timer
		pinger = time.AfterFunc(g.pingEvery, func() {
			if conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(5*time.Second)) == nil {
				pinger.Reset(g.pingEvery)
			}
		})
		defer pinger.Stop()
	}
	t.mu.Lock()
	from := t.acked
	if from < 0 {
		from = t.start
	}
	resume := []byte(`{"type":"resume","position":`)
	if from >= 0 {
		resume = strconv.AppendInt(resume, from, 10)
	} else {
		resume = append(resume, "null"...)
	}
	resume = append(resume, '}')
	err := conn.WriteMessage(websocket.TextMessage, resume)
	t.conn, t.pending = conn, -1
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.conn, t.pending = nil, -1
		t.mu.Unlock()
	}()
	if err != nil {
		return websocket.CloseAbnormalClosure, "", err
	}
	for {
		if err := read(); err != nil {
			var syntax *json.SyntaxError
			if errors.As(err, &syntax) {
				continue
			}
			code, reason := closeOf(err)
			return code, reason, err
		}
		now := time.Now()
		t.messages.Add(1)
		if g.halfOpen > 0 {
			_ = conn.SetReadDeadline(now.Add(g.halfOpen))
		}
		switch m.Type {
		case kChange, kItem, kRemoved:
			if m.EntityID != "" && m.Version.set {
				t.receive(g, m.EntityID, m.Version.v, now.UnixNano())
			}
			if m.Position.set {
				t.ack(g, m.Position.v, now, false)
			}
		case kSynced:
			if m.Position.set {
				t.ack(g, m.Position.v, now, true)
			}
			g.resynced(t, now.UnixNano())
		}
	}
}

func (t *till) receive(g *gen, entity string, version, at int64) {
	t.mu.Lock()
	r := receipt{entity: entity, version: version, at: at}
	if len(t.receipts) < receiptsKept {
		t.receipts = append(t.receipts, r)
	} else {
		t.receipts[t.next] = r
		t.next = (t.next + 1) % receiptsKept
	}
	t.mu.Unlock()
	if w := g.watching.Load(); w != nil {
		w.note(t, entity, version, at)
		g.signal()
	}
}

func (t *till) synced() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ever
}

func (g *gen) resynced(t *till, at int64) {
	t.mu.Lock()
	first := !t.ever
	t.ever = true
	back := t.downAt != 0 && t.backAt == 0
	if back {
		t.backAt = at
	}
	t.mu.Unlock()
	if first {
		g.synced.Add(1)
	}
	if back {
		g.back.Add(1)
	}
	if first || back {
		g.signal()
	}
}

// ack acknowledges position p: at once after synced or when the last ack is 500 ms old, else when it is.
func (t *till) ack(g *gen, p int64, now time.Time, force bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p <= t.acked {
		return
	}
	if force || now.Sub(t.lastAckAt) >= ackEvery {
		t.sendAck(g, p, now)
		return
	}
	wasPending := t.pending >= 0
	t.pending = p
	if wasPending {
		return
	}
	wait := ackEvery - now.Sub(t.lastAckAt)
	if t.timer == nil {
		t.timer = time.AfterFunc(wait, func() { t.flush(g) })
	} else {
		t.timer.Reset(wait)
	}
}

func (t *till) flush(g *gen) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending > t.acked && t.conn != nil {
		t.sendAck(g, t.pending, time.Now())
	}
	t.pending = -1
}

// sendAck writes the ack; the caller holds t.mu.
func (t *till) sendAck(g *gen, p int64, now time.Time) {
	var b [64]byte
	msg := strconv.AppendInt(append(b[:0], `{"type":"ack","position":`...), p, 10)
	msg = append(msg, '}')
	if t.conn == nil || t.conn.WriteMessage(websocket.TextMessage, msg) != nil {
		return
	}
	t.acked, t.lastAckAt, t.pending = p, now, -1
	g.acks.Add(1)
}

func (g *gen) failureReport() map[string]any {
	g.mu.Lock()
	defer g.mu.Unlock()
	by := make(map[string]int, len(g.byCode))
	for k, v := range g.byCode {
		by[k] = v
	}
	first := append([]failure{}, g.failures...)
	return map[string]any{"count": g.failed.Load(), "by_code": by, "first": first}
}

func (g *gen) stats(event string) map[string]any {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	messages := make([]int64, len(g.tills))
	var total int64
	for i, t := range g.tills {
		messages[i] = t.messages.Load()
		total += messages[i]
	}
	g.mu.Lock()
	closes := make(map[string]int, len(g.closes))
	for k, v := range g.closes {
		closes[k] = v
	}
	g.mu.Unlock()
	return map[string]any{
		"event":          event,
		"tills":          len(g.tills),
		"synced":         g.synced.Load(),
		"messages":       messages,
		"messages_total": total,
		"acks_total":     g.acks.Load(),
		"reconnects":     g.reconnect.Load(),
		"closes_by_code": closes,
		"failures":       g.failureReport(),
		"memory": map[string]any{
			"heap_alloc_bytes": ms.HeapAlloc,
			"heap_sys_bytes":   ms.HeapSys,
			"stack_sys_bytes":  ms.StackSys,
			"sys_bytes":        ms.Sys,
			"total_alloc":      ms.TotalAlloc,
			"mallocs":          ms.Mallocs,
			"num_gc":           ms.NumGC,
			"goroutines":       runtime.NumGoroutine(),
			"max_rss_kb":       ru.Maxrss,
		},
	}
}

func (g *gen) watchCmd(c command) map[string]any {
	started := time.Now()
	w := &watch{entity: c.EntityID, version: c.Version, expected: make([]bool, len(g.tills)),
		times: make([]atomic.Int64, len(g.tills))}
	if c.Expected == nil {
		for i := range w.expected {
			w.expected[i] = true
		}
	} else {
		index := make(map[string]int, len(g.tills))
		for i, t := range g.tills {
			index[t.posID] = i
		}
		for _, id := range *c.Expected {
			if i, ok := index[id]; ok {
				w.expected[i] = true
			}
		}
	}
	for _, e := range w.expected {
		if e {
			w.count++
		}
	}
	// Watch first, then look back: a receipt lands in the till's ring before the till looks at the watch, so
	// none falls between the two (and note counts each till once).
	g.watching.Store(w)
	defer g.watching.Store(nil)
	for _, t := range g.tills {
		t.mu.Lock()
		for _, r := range t.receipts {
			w.note(t, r.entity, r.version, r.at)
		}
		t.mu.Unlock()
	}
	deadline := started.Add(time.Duration(c.DeadlineS * float64(time.Second)))
	if g.waitFor(deadline, func() bool { return w.received.Load() >= w.count }) && c.LingerS > 0 {
		linger := time.Now().Add(time.Duration(c.LingerS * float64(time.Second)))
		if linger.After(deadline) {
			linger = deadline
		}
		g.waitFor(linger, func() bool { return false })
	}
	g.watching.Store(nil)
	times := make([]int64, 0, w.received.Load())
	missing, unexpected := []string{}, []string{}
	var missed int
	for i, t := range g.tills {
		at := w.times[i].Load()
		switch {
		case w.expected[i] && at != 0:
			times = append(times, at)
		case w.expected[i]:
			missed++
			if len(missing) < listedIDs {
				missing = append(missing, t.posID)
			}
		case at != 0 && len(unexpected) < listedIDs:
			unexpected = append(unexpected, t.posID)
		}
	}
	return map[string]any{
		"event": "watch", "entity_id": c.EntityID, "version": c.Version, "expected": w.count,
		"received": len(times), "missing": missed, "unexpected": w.unexpected.Load(), "times_ns": times,
		"missing_pos_ids": missing, "unexpected_pos_ids": unexpected,
		"waited_ms": float64(time.Since(started).Microseconds()) / 1000,
	}
}

func (g *gen) stormCmd(c command) map[string]any {
	deadline := time.Now().Add(time.Duration(c.DeadlineS * float64(time.Second)))
	alive := func() int64 { return int64(len(g.tills)) - g.failed.Load() }
	g.waitFor(deadline, func() bool { return g.down.Load() > 0 && g.back.Load() >= alive() })
	var first, firstBack, last int64
	catchUp := []float64{}
	var down, back int
	for _, t := range g.tills {
		t.mu.Lock()
		if t.downAt != 0 {
			down++
			if first == 0 || t.downAt < first {
				first = t.downAt
			}
			if t.backAt != 0 {
				back++
				catchUp = append(catchUp, float64(t.backAt-t.downAt)/1e6)
				last = max(last, t.backAt)
				if firstBack == 0 || t.backAt < firstBack {
					firstBack = t.backAt
				}
			}
		}
		t.downAt, t.backAt = 0, 0
		t.mu.Unlock()
	}
	g.down.Store(0)
	g.back.Store(0)
	elapsed := 0.0
	if last != 0 {
		elapsed = float64(last-first) / 1e6
	}
	return map[string]any{
		"event": "storm", "tills": len(g.tills), "disconnected": down, "caught_up": back,
		"not_caught_up": alive() - int64(back), "catch_up_ms": catchUp, "first_disconnect_ns": first,
		"first_synced_ns": firstBack, "last_synced_ns": last, "elapsed_ms": elapsed, "reconnects": g.reconnect.Load(),
	}
}

// raiseNofile lifts the open-files limit to the hard one, and says whether that is enough for the tills.
func raiseNofile(needed uint64) map[string]any {
	var lim syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	return map[string]any{"soft": lim.Cur, "hard": lim.Max, "needed": needed, "enough": lim.Cur >= needed}
}

// serve runs a job read from in, writing its events to out, until a close command or the end of in.
func serve(in io.Reader, out io.Writer) error {
	dec := json.NewDecoder(bufio.NewReaderSize(in, 1<<16))
	var j job
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("bad job: %w", err)
	}
	if j.Mode != "connect" && j.Mode != "storm" {
		return errors.New("mode is connect or storm")
	}
	if len(j.Tills) == 0 {
		return errors.New("no tills")
	}
	if err := loopback(j.URL); err != nil {
		return err
	}
	j.DialConcurrency = cmp(j.DialConcurrency, 500)
	if j.ConnectTimeoutS <= 0 {
		j.ConnectTimeoutS = 300
	}
	if j.RetryMaxMs <= 0 {
		j.RetryMaxMs = 1000
	}
	if j.HandshakeTimeout <= 0 {
		j.HandshakeTimeout = 30
	}
	nofile := raiseNofile(uint64(len(j.Tills)) + 64)
	g := &gen{
		job:       j,
		dials:     make(chan struct{}, j.DialConcurrency),
		storm:     j.Mode == "storm",
		retryMax:  time.Duration(j.RetryMaxMs * float64(time.Millisecond)),
		halfOpen:  time.Duration(j.HalfOpenS * float64(time.Second)),
		pingEvery: time.Duration(j.PingS * float64(time.Second)),
		closing:   make(chan struct{}),
		changed:   make(chan struct{}, 1),
		byCode:    map[string]int{},
		closes:    map[string]int{},
		out:       json.NewEncoder(out),
	}
	g.dialer = websocket.Dialer{
		NetDialContext:   (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		HandshakeTimeout: time.Duration(j.HandshakeTimeout * float64(time.Second)),
		ReadBufferSize:   1024,
		WriteBufferSize:  512,
		WriteBufferPool:  &sync.Pool{},
	}
	for i, tj := range j.Tills {
		start := int64(-1)
		if tj.Position != nil {
			start = *tj.Position
		} else if j.Position != nil {
			start = *j.Position
		}
		h := http.Header{}
		h.Set("Authorization", "Bearer "+tj.Token)
		g.tills = append(g.tills, &till{idx: i, posID: tj.PosID, header: h, start: start, acked: -1, pending: -1})
	}
	g.began = time.Now()
	g.deadline = g.began.Add(time.Duration(j.ConnectTimeoutS * float64(time.Second)))
	for _, t := range g.tills {
		g.wg.Add(1)
		go g.run(t)
	}
	all := int64(len(g.tills))
	ok := g.waitFor(g.deadline, func() bool { return g.synced.Load()+g.failed.Load() >= all })
	g.emit(map[string]any{
		"event": "synced", "count": g.synced.Load(), "failed": g.failed.Load(), "tills": all, "timed_out": !ok,
		"elapsed_ms": float64(time.Since(g.began).Microseconds()) / 1000, "failures": g.failureReport(),
		"nofile": nofile,
	})
	for {
		var c command
		err := dec.Decode(&c)
		if err != nil || c.Cmd == "close" {
			break
		}
		switch c.Cmd {
		case "watch":
			g.emit(g.watchCmd(c))
		case "storm":
			g.emit(g.stormCmd(c))
		case "stats":
			g.emit(g.stats("stats"))
		default:
			g.emit(map[string]any{"event": "error", "error": "unknown command " + strconv.Quote(c.Cmd)})
		}
	}
	close(g.closing)
	bye := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	for _, t := range g.tills {
		t.mu.Lock()
		if t.conn != nil {
			_ = t.conn.WriteControl(websocket.CloseMessage, bye, time.Now().Add(time.Second))
			_ = t.conn.Close()
		}
		t.mu.Unlock()
	}
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case <-done:
	case <-ctx.Done():
	}
	g.emit(g.stats("done"))
	return nil
}

// loopback refuses a url whose host is not a loopback address.
func loopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("bad url: %w", err)
	}
	if u.Scheme != "ws" {
		return errors.New("the url is ws://<loopback address>:<port>/v1/stream")
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("the url's host %q is not a loopback address", u.Hostname())
	}
	return nil
}

func cmp(v, fallback int) int {
	if v <= 0 {
		return fallback
	}
	return v
}

func main() {
	if err := serve(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "streamgen:", err)
		os.Exit(2)
	}
}
