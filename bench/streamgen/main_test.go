package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// fakeNotifier speaks the stream's protocol on 127.0.0.1: hello, resume (a reset with items for a till without a
// position, the changes after its position otherwise), synced, then live changes; a token "refused" is closed with
// 4401. Tokens are "<shop>:<pos id>"; a change goes to one shop's tills or to every till (shop "").
type fakeNotifier struct {
	t        *testing.T
	addr     string
	mu       sync.Mutex
	ln       net.Listener
	srv      *http.Server
	log      []change
	conns    map[*websocket.Conn]string // the connection's shop
	resumes  map[string][]*int64        // per POS, the positions of its resumes
	acks     map[string]int64           // per POS, its last ack
	upgrader websocket.Upgrader
	frozen   bool          // a new connection is left unread once synced: its pings go unanswered
	thaw     chan struct{} // closed at the end of the test, for the frozen handlers
}

type change struct {
	shop    string
	entity  string
	version int64
}

func newFake(t *testing.T) *fakeNotifier {
	f := &fakeNotifier{t: t, conns: map[*websocket.Conn]string{}, resumes: map[string][]*int64{},
		acks: map[string]int64{}, thaw: make(chan struct{})}
	f.start("127.0.0.1:0")
	t.Cleanup(func() { close(f.thaw); f.stop() })
	return f
}

func (f *fakeNotifier) url() string { return "ws://" + f.addr + "/v1/stream" }

func (f *fakeNotifier) start(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	f.ln, f.addr = ln, ln.Addr().String()
	f.srv = &http.Server{Handler: http.HandlerFunc(f.serve), ReadHeaderTimeout: 5 * time.Second}
	srv := f.srv
	f.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// stop closes every connection with 1001 (a notifier that stops) and stops listening.
func (f *fakeNotifier) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.srv == nil {
		return
	}
	_ = f.srv.Close()
	f.srv = nil
	for c := range f.conns {
		_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1001, "restart"),
			time.Now().Add(time.Second))
		_ = c.Close()
	}
	f.conns = map[*websocket.Conn]string{}
}

func (f *fakeNotifier) last() any {
	if len(f.log) == 0 {
		return nil
	}
	return len(f.log) - 1
}

func (f *fakeNotifier) send(c *websocket.Conn, m map[string]any) {
	b, _ := json.Marshal(m)
	_ = c.WriteMessage(websocket.TextMessage, b)
}

func (f *fakeNotifier) changeMsg(p int, ch change) map[string]any {
	return map[string]any{"type": "change", "position": p, "entity_type": "category", "entity_id": ch.entity,
		"from_version": ch.version - 1, "version": ch.version, "patch": []any{}}
}

func (f *fakeNotifier) serve(w http.ResponseWriter, r *http.Request) {
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	c, err := f.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	if token == "refused" {
		_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4401, "token refused: expired"),
			time.Now().Add(time.Second))
		return
	}
	shop, pos, _ := strings.Cut(token, ":")
	f.mu.Lock()
	f.send(c, map[string]any{"type": "hello", "notifier": "fake", "position": f.last(), "scope": map[string]any{}})
	f.mu.Unlock()
	var resume struct {
		Type     string `json:"type"`
		Position *int64 `json:"position"`
	}
	if err := c.ReadJSON(&resume); err != nil || resume.Type != "resume" {
		return
	}
	f.mu.Lock()
	if f.srv == nil {
		f.mu.Unlock()
		return
	}
	f.resumes[pos] = append(f.resumes[pos], resume.Position)
	if resume.Position == nil {
		f.send(c, map[string]any{"type": "reset", "reason": "first", "scope": map[string]any{}})
		f.send(c, map[string]any{"type": "item", "position": nil, "entity_type": "shop", "entity_id": shop,
			"version": 1, "item": map[string]any{"name": "Shop " + shop}})
	} else {
		for p := int(*resume.Position) + 1; p < len(f.log); p++ {
			if ch := f.log[p]; ch.shop == "" || ch.shop == shop {
				f.send(c, f.changeMsg(p, ch))
			}
		}
	}
	f.send(c, map[string]any{"type": "synced", "position": f.last()})
	f.conns[c] = shop
	frozen := f.frozen
	f.mu.Unlock()
	if frozen {
		<-f.thaw
		return
	}
	for {
		var ack struct {
			Type     string `json:"type"`
			Position int64  `json:"position"`
		}
		if err := c.ReadJSON(&ack); err != nil {
			return
		}
		if ack.Type == "ack" {
			f.mu.Lock()
			f.acks[pos] = ack.Position
			f.mu.Unlock()
		}
	}
}

// publish appends a change to the log and sends it to the connected tills of its shop; it returns its position.
func (f *fakeNotifier) publish(shop, entity string, version int64) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := change{shop: shop, entity: entity, version: version}
	f.log = append(f.log, ch)
	p := len(f.log) - 1
	for c, s := range f.conns {
		if shop == "" || s == shop {
			f.send(c, f.changeMsg(p, ch))
		}
	}
	return int64(p)
}

// waitAcks polls until every POS of ids acknowledged position p.
func (f *fakeNotifier) waitAcks(ids []string, p int64) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.mu.Lock()
		n := 0
		for _, id := range ids {
			if a, ok := f.acks[id]; ok && a >= p {
				n++
			}
		}
		f.mu.Unlock()
		if n == len(ids) {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%d of %d tills acknowledged %d", n, len(ids), p)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// generator runs serve in-process over pipes, as the Python bench runs the binary.
type generator struct {
	t     *testing.T
	in    *io.PipeWriter
	lines *bufio.Scanner
	done  chan error
}

func startGenerator(t *testing.T, j map[string]any) *generator {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	g := &generator{t: t, in: inW, lines: bufio.NewScanner(outR), done: make(chan error, 1)}
	g.lines.Buffer(make([]byte, 1<<20), 1<<24)
	go func() {
		err := serve(inR, outW)
		_ = outW.CloseWithError(errors.Join(err, io.EOF))
		g.done <- err
	}()
	g.send(j)
	return g
}

func (g *generator) send(v any) {
	b, _ := json.Marshal(v)
	if _, err := g.in.Write(append(b, '\n')); err != nil {
		g.t.Fatal(err)
	}
}

func (g *generator) next(event string) map[string]any {
	if !g.lines.Scan() {
		g.t.Fatalf("no %s event: %v", event, g.lines.Err())
	}
	var m map[string]any
	if err := json.Unmarshal(g.lines.Bytes(), &m); err != nil {
		g.t.Fatal(err)
	}
	if m["event"] != event {
		g.t.Fatalf("expected %s, got %s", event, g.lines.Text())
	}
	return m
}

func (g *generator) close() map[string]any {
	g.send(map[string]any{"cmd": "close"})
	done := g.next("done")
	if err := <-g.done; err != nil {
		g.t.Fatal(err)
	}
	return done
}

func tills(shop string, n int) ([]map[string]any, []string) {
	var out []map[string]any
	var ids []string
	for i := range n {
		id := fmt.Sprintf("%s-pos-%03d", shop, i)
		out = append(out, map[string]any{"pos_id": id, "token": shop + ":" + id})
		ids = append(ids, id)
	}
	return out, ids
}

func num(m map[string]any, key string) int {
	return int(m[key].(float64))
}

func TestConnectReportsSyncedAndRefusedTokens(t *testing.T) {
	f := newFake(t)
	list, ids := tills("a", 40)
	list = append(list, map[string]any{"pos_id": "refused-pos", "token": "refused"})
	g := startGenerator(t, map[string]any{"url": f.url(), "mode": "connect", "tills": list, "dial_concurrency": 8})
	synced := g.next("synced")
	if num(synced, "count") != 40 || num(synced, "failed") != 1 || synced["timed_out"] != false {
		t.Fatalf("synced: %v", synced)
	}
	failures := synced["failures"].(map[string]any)
	first := failures["first"].([]any)[0].(map[string]any)
	if first["pos_id"] != "refused-pos" || num(first, "close_code") != 4401 || first["reason"] != "token refused: expired" {
		t.Fatalf("failure: %v", first)
	}
	if failures["by_code"].(map[string]any)["4401"] != float64(1) {
		t.Fatalf("by code: %v", failures)
	}
	if nofile := synced["nofile"].(map[string]any); nofile["enough"] != true {
		t.Fatalf("nofile: %v", nofile)
	}
	f.mu.Lock()
	for _, id := range ids {
		if r := f.resumes[id]; len(r) != 1 || r[0] != nil {
			t.Fatalf("%s resumed with %v", id, r)
		}
	}
	f.mu.Unlock()
	done := g.close()
	messages := done["messages"].([]any)
	// hello, reset, item, synced
	if len(messages) != 41 || messages[0] != float64(4) || messages[40] != float64(0) {
		t.Fatalf("messages: %v", messages)
	}
	memory := done["memory"].(map[string]any)
	if num(memory, "heap_alloc_bytes") <= 0 || num(memory, "max_rss_kb") <= 0 {
		t.Fatalf("memory: %v", memory)
	}
}

func TestWatchRecordsReceiptsAndCountsUnexpectedOnes(t *testing.T) {
	f := newFake(t)
	shopA, idsA := tills("a", 30)
	shopB, _ := tills("b", 20)
	// The tills ping: the server's pongs keep their quiet connections alive past half_open_s.
	g := startGenerator(t, map[string]any{"url": f.url(), "mode": "connect", "tills": append(shopA, shopB...),
		"ping_s": 0.1, "half_open_s": 0.4})
	if synced := g.next("synced"); num(synced, "count") != 50 {
		t.Fatalf("synced: %v", synced)
	}
	entity := "0190f1a2-0000-7000-8000-000000000001"

	// The change reaches the tills before the bench names it, as when the bench writes first then asks.
	before := time.Now().UnixNano()
	p := f.publish("a", entity, 2)
	f.waitAcks(idsA, p)
	g.send(map[string]any{"cmd": "watch", "entity_id": entity, "version": 2, "deadline_s": 5, "expected": idsA,
		"linger_s": 0.2})
	w := g.next("watch")
	if num(w, "expected") != 30 || num(w, "received") != 30 || num(w, "missing") != 0 || num(w, "unexpected") != 0 {
		t.Fatalf("watch: %v", w)
	}
	for _, at := range w["times_ns"].([]any) {
		if ns := int64(at.(float64)); ns < before || ns > time.Now().UnixNano() {
			t.Fatalf("receive time %d outside the run", ns)
		}
	}

	// A change sent to every till although only shop a's should get it: shop b's count as unexpected.
	go func() {
		time.Sleep(100 * time.Millisecond)
		f.publish("", entity, 3)
	}()
	g.send(map[string]any{"cmd": "watch", "entity_id": entity, "version": 3, "deadline_s": 5, "expected": idsA,
		"linger_s": 0.5})
	w = g.next("watch")
	if num(w, "received") != 30 || num(w, "unexpected") != 20 || len(w["unexpected_pos_ids"].([]any)) != 20 {
		t.Fatalf("watch: %v", w)
	}

	// A version nobody gets: every till is missing at the deadline.
	g.send(map[string]any{"cmd": "watch", "entity_id": entity, "version": 9, "deadline_s": 0.2})
	w = g.next("watch")
	if num(w, "expected") != 50 || num(w, "received") != 0 || num(w, "missing") != 50 ||
		len(w["missing_pos_ids"].([]any)) != 20 {
		t.Fatalf("watch: %v", w)
	}
	g.send(map[string]any{"cmd": "stats"})
	stats := g.next("stats")
	// 4 at the start, 2 changes for shop a's, 1 for shop b's
	if num(stats, "messages_total") != 30*6+20*5 || len(stats["closes_by_code"].(map[string]any)) != 0 {
		t.Fatalf("stats: %v", stats)
	}
	g.close()
}

func TestStormReconnectsAndResumesFromTheLastAck(t *testing.T) {
	f := newFake(t)
	list, ids := tills("a", 50)
	g := startGenerator(t, map[string]any{"url": f.url(), "mode": "storm", "tills": list, "retry_max_ms": 100})
	if synced := g.next("synced"); num(synced, "count") != 50 {
		t.Fatalf("synced: %v", synced)
	}
	entity := "0190f1a2-0000-7000-8000-000000000002"
	p := f.publish("a", entity, 2)
	f.waitAcks(ids, p)

	addr := f.addr
	f.stop()
	missed := f.publish("a", entity, 3) // written while the notifier is away: the resume brings it
	f.start(addr)
	g.send(map[string]any{"cmd": "storm", "deadline_s": 20})
	s := g.next("storm")
	if num(s, "disconnected") != 50 || num(s, "caught_up") != 50 || num(s, "not_caught_up") != 0 ||
		len(s["catch_up_ms"].([]any)) != 50 || s["elapsed_ms"].(float64) <= 0 {
		t.Fatalf("storm: %v", s)
	}
	f.mu.Lock()
	for _, id := range ids {
		r := f.resumes[id]
		if len(r) != 2 || r[1] == nil || *r[1] != p {
			t.Fatalf("%s resumed with %v, expected %d after nothing", id, r, p)
		}
	}
	f.mu.Unlock()
	f.waitAcks(ids, missed)
	g.send(map[string]any{"cmd": "watch", "entity_id": entity, "version": 3, "deadline_s": 5})
	if w := g.next("watch"); num(w, "received") != 50 {
		t.Fatalf("watch: %v", w)
	}
	done := g.close()
	if closes := done["closes_by_code"].(map[string]any); closes["1001"] != float64(50) {
		t.Fatalf("closes: %v", closes)
	}
}

func TestStormNoticesADeadConnectionByItsPings(t *testing.T) {
	f := newFake(t)
	f.frozen = true
	list, _ := tills("a", 20)
	g := startGenerator(t, map[string]any{"url": f.url(), "mode": "storm", "tills": list, "ping_s": 0.1,
		"half_open_s": 0.5, "retry_max_ms": 100})
	if synced := g.next("synced"); num(synced, "count") != 20 {
		t.Fatalf("synced: %v", synced)
	}
	f.mu.Lock()
	f.frozen = false
	f.mu.Unlock()
	g.send(map[string]any{"cmd": "storm", "deadline_s": 10})
	if s := g.next("storm"); num(s, "disconnected") != 20 || num(s, "caught_up") != 20 {
		t.Fatalf("storm: %v", s)
	}
	if closes := g.close()["closes_by_code"].(map[string]any); closes["1006"] != float64(20) {
		t.Fatalf("closes: %v", closes)
	}
}

func TestOnlyALoopbackURLIsServed(t *testing.T) {
	job := `{"url": "ws://192.0.2.1:8080/v1/stream", "mode": "connect", "tills": [{"pos_id": "p", "token": "t"}]}`
	err := serve(strings.NewReader(job), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("served %v", err)
	}
}
