// Produces N messages to a topic and consumes them back as a consumer group with kafkajs, for
// bench/shards/cross_shard_per_message.py. Usage: node kafkajs_produce_consume.js BOOTSTRAP TOPIC N
const path = require('path')
const { Kafka, logLevel } = require(path.join(__dirname, '..', '..', 'tests', 'compat', 'node_modules', 'kafkajs'))

async function main () {
  const [bootstrap, topic, nText] = process.argv.slice(2)
  const n = parseInt(nText, 10)
  const kafka = new Kafka({ clientId: 'cross-shard-bench', brokers: [bootstrap], logLevel: logLevel.ERROR })
  const producer = kafka.producer()
  await producer.connect()
  const batch = 1000
  for (let i = 0; i < n; i += batch) {
    const messages = []
    for (let j = i; j < Math.min(n, i + batch); j++) messages.push({ key: 'k-' + j, value: 'v-' + j })
    await producer.send({ topic, acks: -1, messages })
  }
  await producer.disconnect()
  const consumer = kafka.consumer({ groupId: 'cross-shard-bench' })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const seen = new Set()
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('consumed ' + seen.size + ' of ' + n)), 120000)
    consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) seen.add(m.key.toString())
        if (seen.size >= n) { clearTimeout(timer); resolve() }
      }
    })
  })
  await consumer.disconnect()
  console.log('delivered ' + seen.size)
}
main().catch(e => { console.error(e); process.exit(1) })
