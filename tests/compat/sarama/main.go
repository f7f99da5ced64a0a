// sarama 1.22 (Debian golang-github-shopify-sarama-dev) against a running sluiced, unchanged:
// admin (create topic, describe it and its configs), a sync producer with acks=all (keyed, with
// headers), a consumer group of two members that marks and commits what it consumed, and the
// committed offsets and the group read back through the admin client, then DeleteRecords.
//
// Usage: sarama_client BOOTSTRAP KAFKA_VERSION (e.g. 2.1.0). Exits 0 on success, 1 on failure.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

const (
	partitions = 3
	count      = 200
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAILED: "+format+"\n", args...)
	os.Exit(1)
}

func config(version sarama.KafkaVersion, clientID string) *sarama.Config {
	c := sarama.NewConfig()
	c.Version = version
	c.ClientID = clientID
	c.Metadata.Retry.Max = 10
	c.Metadata.Retry.Backoff = 200 * time.Millisecond
	return c
}

func admin(bootstrap []string, version sarama.KafkaVersion, topic string) {
	a, err := sarama.NewClusterAdmin(bootstrap, config(version, "sarama-admin"))
	if err != nil {
		fail("admin: %v", err)
	}
	defer a.Close()
	retention := "3600000"
	err = a.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"retention.ms": &retention}}, false)
	if err != nil {
		fail("create topic: %v", err)
	}
	if err := a.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false); err == nil {
		fail("creating %s twice succeeded", topic)
	} else if topicErr, ok := err.(*sarama.TopicError); !ok || topicErr.Err != sarama.ErrTopicAlreadyExists {
		fail("creating %s twice: %v, want TOPIC_ALREADY_EXISTS", topic, err)
	}
	topics, err := a.ListTopics()
	if err != nil {
		fail("list topics: %v", err)
	}
	if d, ok := topics[topic]; !ok || d.NumPartitions != partitions {
		fail("list topics: %s is %+v", topic, topics[topic])
	}
	entries, err := a.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
	if err != nil {
		fail("describe config: %v", err)
	}
	found := false
	for _, e := range entries {
		if e.Name == "retention.ms" {
			found = e.Value == retention
		}
	}
	if !found {
		fail("describe config: retention.ms is not %s in %+v", retention, entries)
	}
}

// Returns the number of messages acknowledged per partition.
func produce(bootstrap []string, version sarama.KafkaVersion, topic string) map[int32]int64 {
	c := config(version, "sarama-producer")
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Return.Successes = true
	c.Producer.Partitioner = sarama.NewHashPartitioner
	c.Producer.Compression = sarama.CompressionSnappy
	p, err := sarama.NewSyncProducer(bootstrap, c)
	if err != nil {
		fail("producer: %v", err)
	}
	defer p.Close()
	perPartition := map[int32]int64{}
	keyPartition := map[string]int32{}
	for i := 0; i < count; i++ {
		key := "key-" + strconv.Itoa(i%10)
		part, off, err := p.SendMessage(&sarama.ProducerMessage{
			Topic:   topic,
			Key:     sarama.StringEncoder(key),
			Value:   sarama.StringEncoder("value-" + strconv.Itoa(i)),
			Headers: []sarama.RecordHeader{{Key: []byte("seq"), Value: []byte(strconv.Itoa(i))}},
		})
		if err != nil {
			fail("send %d: %v", i, err)
		}
		if prev, ok := keyPartition[key]; ok && prev != part {
			fail("key %s went to partitions %d and %d", key, prev, part)
		}
		keyPartition[key] = part
		if off != perPartition[part] {
			fail("send %d: offset %d on partition %d, want %d", i, off, part, perPartition[part])
		}
		perPartition[part]++
	}
	return perPartition
}

type handler struct {
	name string
	mu   *sync.Mutex
	seen map[string]int
	got  map[string][]int32
}

func (h *handler) Setup(s sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, parts := range s.Claims() {
		h.got[h.name] = append([]int32(nil), parts...)
	}
	return nil
}

func (h *handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *handler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		if len(m.Headers) != 1 || string(m.Headers[0].Key) != "seq" {
			return fmt.Errorf("message %d/%d: headers %+v", m.Partition, m.Offset, m.Headers)
		}
		seq, _ := strconv.Atoi(string(m.Headers[0].Value))
		if string(m.Value) != "value-"+strconv.Itoa(seq) || string(m.Key) != "key-"+strconv.Itoa(seq%10) {
			return fmt.Errorf("message %d/%d: key %q value %q", m.Partition, m.Offset, m.Key, m.Value)
		}
		h.mu.Lock()
		h.seen[fmt.Sprintf("%d/%d", m.Partition, m.Offset)] = seq
		h.mu.Unlock()
		s.MarkMessage(m, "")
	}
	return nil
}

func consumeGroup(bootstrap []string, version sarama.KafkaVersion, topic, group string) {
	var mu sync.Mutex
	seen := map[string]int{}
	got := map[string][]int32{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	var groups []sarama.ConsumerGroup
	for _, name := range []string{"m1", "m2"} {
		c := config(version, "sarama-"+name)
		c.Consumer.Offsets.Initial = sarama.OffsetOldest
		c.Consumer.Offsets.CommitInterval = 200 * time.Millisecond
		c.Consumer.Return.Errors = true
		g, err := sarama.NewConsumerGroup(bootstrap, group, c)
		if err != nil {
			fail("consumer group %s: %v", name, err)
		}
		groups = append(groups, g)
		h := &handler{name: name, mu: &mu, seen: seen, got: got}
		wg.Add(2)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := g.Consume(ctx, []string{topic}, h); err != nil {
					errs <- fmt.Errorf("%s: consume: %v", h.name, err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for {
				select {
				case err, ok := <-g.Errors():
					if !ok {
						return
					}
					errs <- fmt.Errorf("%s: %v", h.name, err)
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case err := <-errs:
			fail("consumer group: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		mu.Lock()
		done := len(seen) == count && len(got["m1"]) > 0 && len(got["m2"]) > 0 &&
			len(got["m1"])+len(got["m2"]) == partitions
		state := fmt.Sprintf("seen %d of %d, claims %v", len(seen), count, got)
		mu.Unlock()
		if done {
			fmt.Println("consumer group:", state)
			break
		}
		if time.Now().After(deadline) {
			fail("consumer group did not finish: %s", state)
		}
	}
	// Offsets marked are committed every CommitInterval and on close.
	time.Sleep(600 * time.Millisecond)
	cancel()
	for _, g := range groups {
		if err := g.Close(); err != nil {
			fail("close group: %v", err)
		}
	}
	wg.Wait()
	seqs := []int{}
	for _, s := range seen {
		seqs = append(seqs, s)
	}
	sort.Ints(seqs)
	for i, s := range seqs {
		if s != i {
			fail("consumed sequence numbers are not 0..%d: %v", count-1, seqs)
		}
	}
}

func committed(bootstrap []string, version sarama.KafkaVersion, topic, group string, want map[int32]int64) {
	a, err := sarama.NewClusterAdmin(bootstrap, config(version, "sarama-admin2"))
	if err != nil {
		fail("admin: %v", err)
	}
	defer a.Close()
	resp, err := a.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1, 2}})
	if err != nil {
		fail("list group offsets: %v", err)
	}
	for p := int32(0); p < partitions; p++ {
		b := resp.GetBlock(topic, p)
		if b == nil || b.Err != sarama.ErrNoError || b.Offset != want[p] {
			fail("committed offset of partition %d: %+v, want %d", p, b, want[p])
		}
	}
	groups, err := a.ListConsumerGroups()
	if err != nil {
		fail("list groups: %v", err)
	}
	if groups[group] != "consumer" {
		fail("list groups: %v", groups)
	}
	desc, err := a.DescribeConsumerGroups([]string{group})
	if err != nil || len(desc) != 1 || desc[0].GroupId != group || desc[0].Err != sarama.ErrNoError {
		fail("describe group: %v %+v", err, desc)
	}
	fmt.Println("committed offsets:", want, "group state:", desc[0].State)
}

// ClusterAdmin.DeleteRecords (sent to the controller, shard 0's broker: the partitions other
// shards own are forwarded there) moves each partition's log start to half its messages; the
// oldest offset then says so.
func deleteRecords(bootstrap []string, version sarama.KafkaVersion, topic string, want map[int32]int64) {
	a, err := sarama.NewClusterAdmin(bootstrap, config(version, "sarama-admin3"))
	if err != nil {
		fail("admin: %v", err)
	}
	defer a.Close()
	offsets := map[int32]int64{}
	for p := int32(0); p < partitions; p++ {
		offsets[p] = want[p] / 2
	}
	if err := a.DeleteRecords(topic, offsets); err != nil {
		fail("delete records: %v", err)
	}
	client, err := sarama.NewClient(bootstrap, config(version, "sarama-offsets"))
	if err != nil {
		fail("client: %v", err)
	}
	defer client.Close()
	for p := int32(0); p < partitions; p++ {
		oldest, err := client.GetOffset(topic, p, sarama.OffsetOldest)
		if err != nil || oldest != offsets[p] {
			fail("oldest offset of partition %d after DeleteRecords: %d (%v), want %d", p, oldest, err, offsets[p])
		}
		newest, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil || newest != want[p] {
			fail("newest offset of partition %d after DeleteRecords: %d (%v), want %d", p, newest, err, want[p])
		}
	}
	fmt.Println("records deleted below:", offsets)
}

func main() {
	if len(os.Args) != 3 {
		fail("usage: %s BOOTSTRAP KAFKA_VERSION", os.Args[0])
	}
	bootstrap := []string{os.Args[1]}
	version, err := sarama.ParseKafkaVersion(os.Args[2])
	if err != nil {
		fail("version %s: %v", os.Args[2], err)
	}
	topic := "sarama-" + version.String()
	group := "sarama-group-" + version.String()
	admin(bootstrap, version, topic)
	want := produce(bootstrap, version, topic)
	fmt.Println("produced:", want)
	consumeGroup(bootstrap, version, topic, group)
	committed(bootstrap, version, topic, group, want)
	deleteRecords(bootstrap, version, topic, want)
	fmt.Println("PASSED")
}
