package broker_test

import (
	"testing"

	"github.com/ternmq/tern/core/broker/brokertest"
)

// TestCreateTopicRegistersTheChange: creating a topic registers that topic alone at the
// NameServer, which merges it into the broker's route and keeps the data version of the
// broker's last whole registration (a whole registration would record the new one). The
// topics registered before keep their routes.
func TestCreateTopicRegistersTheChange(t *testing.T) {
	c := brokertest.Start(t, nil)
	routes := c.NS.Routes()
	createTopic(t, c, "Before", 4)
	_, before, ok := routes.Registered(c.BrokerAddr)
	if !ok {
		t.Fatal("the broker is not registered")
	}
	for _, topic := range []string{"Changed1", "Changed2"} {
		createTopic(t, c, topic, 2)
		rd, ok := routes.Route(topic)
		if !ok || len(rd.QueueDatas) != 1 || rd.QueueDatas[0].WriteQueueNums != 2 {
			t.Fatalf("route of %s after its creation: %+v, %v", topic, rd, ok)
		}
	}
	if _, ok := routes.Route("Before"); !ok {
		t.Fatal("the topic created before lost its route")
	}
	if _, after, _ := routes.Registered(c.BrokerAddr); after != before {
		t.Fatalf("the NameServer's data version moved from %+v to %+v: the creation registered the whole table", before, after)
	}
}
