// kafkajs 2.2.4: admin.createTopics, producer.send with key, JSON value and headers, read back
// by offset (consumer seek) — run against a broker whose address is argv[2].
const { Kafka, logLevel } = require('kafkajs')

const bootstrap = process.argv[2]
const phase = process.argv[3] || 'all'
const topic = 'kafkajs-topic'
const COUNT = 100

async function produce (kafka) {
  const admin = kafka.admin()
  await admin.connect()
  const created = await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true })
  if (!created) throw new Error('createTopics returned false')
  const listed = await admin.listTopics()
  if (!listed.includes(topic)) throw new Error('topic not listed')
  await admin.disconnect()

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  for (let i = 0; i < COUNT; i += 10) {
    const messages = []
    for (let j = i; j < i + 10; j++) {
      messages.push({ key: `key-${j}`, value: JSON.stringify({ n: j, text: `hello ${j}` }), headers: { source: 'kafkajs', n: String(j) } })
    }
    await producer.send({ topic, messages, acks: -1 })
  }
  await producer.disconnect()
}

async function readBack (kafka) {
  const consumer = kafka.consumer({ groupId: 'kafkajs-reader' })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const seen = new Map()
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timeout: saw ${seen.size} of ${COUNT}`)), 60000)
    consumer.run({
      eachMessage: async ({ partition, message }) => {
        const value = JSON.parse(message.value.toString())
        const key = message.key.toString()
        if (key !== `key-${value.n}`) reject(new Error(`key mismatch ${key}`))
        if (message.headers.source.toString() !== 'kafkajs') reject(new Error('header mismatch'))
        seen.set(value.n, { partition, offset: message.offset })
        if (seen.size === COUNT) { clearTimeout(timer); resolve() }
      }
    })
  })
  await consumer.disconnect()
  // Offsets per partition are dense from 0.
  const byPartition = {}
  for (const { partition, offset } of seen.values()) (byPartition[partition] ||= []).push(Number(offset))
  for (const offs of Object.values(byPartition)) {
    offs.sort((a, b) => a - b)
    offs.forEach((o, i) => { if (o !== i) throw new Error(`offsets not dense: ${offs}`) })
  }
}

async function main () {
  const kafka = new Kafka({ clientId: 'sluice-compat', brokers: [bootstrap], logLevel: logLevel.ERROR, retry: { retries: 5 } })
  if (phase === 'all' || phase === 'produce') await produce(kafka)
  if (phase === 'all' || phase === 'consume') await readBack(kafka)
  console.log('kafkajs ok')
}

main().catch(e => { console.error(e); process.exit(1) })
