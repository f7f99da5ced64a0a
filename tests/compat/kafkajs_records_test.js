// kafkajs 2.2.4: admin.deleteTopicRecords (DeleteRecords to each partition's leader) and
// admin.fetchTopicOffsets (the low watermark follows) — against the broker at argv[2], on the topic
// argv[3] (2 partitions): produces 10 messages to each, then deletes below offset 4 on partition
// 0 and everything (-1, the high watermark) on partition 1.
const { Kafka, logLevel } = require('kafkajs')

const bootstrap = process.argv[2]
const topic = process.argv[3]

async function main () {
  const kafka = new Kafka({ clientId: 'kafkajs-records', brokers: [bootstrap], logLevel: logLevel.WARN })
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true })
  const producer = kafka.producer()
  await producer.connect()
  for (const partition of [0, 1]) {
    const messages = []
    for (let i = 0; i < 10; i++) messages.push({ partition, key: `k${i}`, value: `p${partition}-m${i}` })
    await producer.send({ topic, messages, acks: -1 })
  }
  await producer.disconnect()
  // The admin client finds the leaders in its metadata, which covers only topics it has asked about.
  await admin.fetchTopicMetadata({ topics: [topic] })
  await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '4' }, { partition: 1, offset: '-1' }] })
  const offsets = await admin.fetchTopicOffsets(topic)
  const byPartition = Object.fromEntries(offsets.map(o => [o.partition, o]))
  const got = JSON.stringify(offsets)
  if (byPartition[0].low !== '4' || byPartition[0].high !== '10') throw new Error(`partition 0: ${got}`)
  if (byPartition[1].low !== '10' || byPartition[1].high !== '10') throw new Error(`partition 1: ${got}`)
  // Past the high watermark: kafkajs reports the partition's OFFSET_OUT_OF_RANGE.
  let refused = null
  try {
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '11' }] })
  } catch (e) {
    refused = e
  }
  // kafkajs' retrier wraps the KafkaJSDeleteTopicRecordsError (its partitions) as the cause.
  const parts = refused && (refused.partitions || (refused.cause && refused.cause.partitions))
  if (!parts || !parts.some(p => p.error && p.error.type === 'OFFSET_OUT_OF_RANGE')) {
    throw new Error(`delete past the high watermark: ${refused}`)
  }
  await admin.disconnect()
  console.log('kafkajs deleteTopicRecords:', got)
}

main().catch(e => {
  console.error('FAILED:', e)
  process.exit(1)
})
