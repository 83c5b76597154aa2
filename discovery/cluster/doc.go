// Package cluster holds the multi-broker tests of Tern: two brokers (broker-a, broker-b) in one
// cluster serving one topic, registered through either discovery backend (the NameServers'
// memory, or etcd shared by stateless NameServers), with sdk/client producers and push
// consumers on top. It has no code of its own besides its tests.
//
// The tests run in process, on 127.0.0.1 and ephemeral ports, with etcd embedded by
// discovery/etcd/etcdtest. TestClusterE2E (build tag e2e) is the checker .ci/run runs against
// real `tern broker`, `tern namesrv` and etcd processes; it reads their addresses from the
// environment (see e2e_test.go).
package cluster
