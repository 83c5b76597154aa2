package etcdtest_test

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/ternmq/tern/discovery/etcd/etcdtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestRestart: keys written before a stop are read after a restart on the same endpoint, by
// the same client, which reconnects by itself.
func TestRestart(t *testing.T) {
	ep, stop, restart := etcdtest.Start(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "/etcdtest/k", "v1"); err != nil {
		t.Fatal(err)
	}
	stop()
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = cli.Get(short, "/etcdtest/k")
	cancelShort()
	if err == nil {
		t.Fatal("Get succeeded while etcd is stopped")
	}
	restart()
	resp, err := cli.Get(ctx, "/etcdtest/k")
	if err != nil {
		t.Fatalf("Get after restart: %v", err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v1" {
		t.Fatalf("after restart: %v, want v1", resp.Kvs)
	}
	restart() // a restart of a running server works too
	if _, err := cli.Put(ctx, "/etcdtest/k", "v2"); err != nil {
		t.Fatalf("Put after second restart: %v", err)
	}
}

// TestProxy: a client behind a cut Proxy cannot reach etcd while another can; after Heal it
// reconnects by itself on the same endpoint.
func TestProxy(t *testing.T) {
	ep, _, _ := etcdtest.Start(t)
	p := etcdtest.NewProxy(t, ep)
	newClient := func(ep string) *clientv3.Client {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cli.Close() })
		return cli
	}
	behind, direct := newClient(p.Endpoint()), newClient(ep)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := behind.Put(ctx, "/etcdtest/p", "v1"); err != nil {
		t.Fatal(err)
	}
	before := p.Endpoint()
	p.Cut()
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := behind.Get(short, "/etcdtest/p")
	cancelShort()
	if err == nil {
		t.Fatal("Get through a cut proxy succeeded")
	}
	if _, err := direct.Put(ctx, "/etcdtest/p", "v2"); err != nil {
		t.Fatalf("Put beside a cut proxy: %v", err)
	}
	p.Heal()
	if p.Endpoint() != before {
		t.Fatalf("endpoint after Heal %s, want %s", p.Endpoint(), before)
	}
	resp, err := behind.Get(ctx, "/etcdtest/p")
	if err != nil {
		t.Fatalf("Get after Heal: %v", err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v2" {
		t.Fatalf("after Heal: %v, want v2", resp.Kvs)
	}
}
