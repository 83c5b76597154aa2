package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// delayOffsetBody is GET_ALL_DELAY_OFFSET's body: delayOffset.json's format, level → offset.
type delayOffsetBody struct {
	OffsetTable map[string]int64 `json:"offsetTable"`
}

// syncFromMaster copies the master's topics, consumer offsets and delay-level cursors (RocketMQ's
// SlaveSynchronize). The CommitLog itself comes over the HA port.
func (b *Broker) syncFromMaster(ctx context.Context, addr string) error {
	r := b.rep
	r.mu.Lock()
	if r.syncClient == nil {
		r.syncClient = remoting.NewClient(remoting.ClientOptions{Logger: b.log.With("component", "slave-sync"), TLS: b.ls.namesrv})
	}
	cl := r.syncClient
	r.mu.Unlock()
	call := func(code int16) ([]byte, error) {
		resp, err := cl.Invoke(ctx, addr, remoting.NewRequest(code, nil, nil))
		if err != nil {
			return nil, err
		}
		if resp.Code != int16(remoting.Success) {
			return nil, fmt.Errorf("request %d: code %d: %s", code, resp.Code, resp.Remark)
		}
		return resp.Body, nil
	}
	var errs []error
	if body, err := call(remoting.GetAllTopicConfig); err != nil {
		errs = append(errs, err)
	} else {
		var w protocol.TopicConfigSerializeWrapper
		if err := json.Unmarshal(body, &w); err != nil {
			errs = append(errs, fmt.Errorf("topics: %w", err))
		} else if err := b.topics.Replace(w.TopicConfigTable, w.DataVersion); err != nil {
			errs = append(errs, err)
		}
	}
	if body, err := call(remoting.GetAllConsumerOffset); err != nil {
		errs = append(errs, err)
	} else if err := b.offsets.Merge(body); err != nil {
		errs = append(errs, err)
	}
	if body, err := call(remoting.GetAllDelayOffset); err != nil {
		errs = append(errs, err)
	} else {
		var d delayOffsetBody
		if err := json.Unmarshal(body, &d); err != nil {
			errs = append(errs, fmt.Errorf("delay offsets: %w", err))
		} else {
			cur := make(map[int]int64, len(d.OffsetTable))
			for k, off := range d.OffsetTable {
				if level, err := strconv.Atoi(k); err == nil {
					cur[level] = off
				}
			}
			if err := b.levels.SetCursors(cur); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// handleAllConsumerOffsets serves GET_ALL_CONSUMER_OFFSET (a slave's sync).
func (b *Broker) handleAllConsumerOffsets(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	body, err := b.offsets.Encode()
	if err != nil {
		return remoting.ErrorResponse(req, fmt.Errorf("%w: %w", remoting.ErrSystemError, err))
	}
	resp := ok(req)
	resp.Body = body
	return resp
}

// handleAllDelayOffsets serves GET_ALL_DELAY_OFFSET (a slave's sync).
func (b *Broker) handleAllDelayOffsets(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	d := delayOffsetBody{OffsetTable: map[string]int64{}}
	for level, off := range b.levels.Cursors() {
		d.OffsetTable[strconv.Itoa(level)] = off
	}
	resp := ok(req)
	resp.Body, _ = json.Marshal(d)
	return resp
}

// handleHAStatus serves Tern's HA_STATUS (`tern admin replicas`).
func (b *Broker) handleHAStatus(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	resp := ok(req)
	resp.Body, _ = json.Marshal(b.HAStatus())
	return resp
}
