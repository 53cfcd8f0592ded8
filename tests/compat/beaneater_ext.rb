# synqd's extension commands through beaneater's raw-command hook,
# Beaneater::Connection#transmit: the snippets of docs/clients.md, checked.
# Usage: ruby beaneater_ext.rb HOST:PORT (a fresh synqd). Prints
# "N passed, M failed" and exits non-zero on a failure.
require 'beaneater'
require_relative 'checks'

beanstalk = Beaneater.new(ARGV[0])
conn = beanstalk.connection

conn.transmit('use jobs')
first = conn.transmit("put-unique order-7 0 0 60 5\r\nhello")
check('put-unique inserts', first[:status], 'INSERTED')
again = conn.transmit("put-unique order-7 0 0 60 5\r\nhello")
check('put-unique again', again, { status: 'EXISTS', id: first[:id] })

page = conn.transmit('list-jobs jobs ready 0 10')
check('list-jobs status', page[:status], 'OK')
check('list-jobs ids', page[:body].map { |job| job['id'] }, [first[:id].to_i])

check('tube-set', conn.transmit('tube-set jobs max-reserves 3'), { status: 'SET' })
info = conn.transmit('tube-info jobs')[:body]
check('tube-info', [info['name'], info['max-reserves'], info['held']], ['jobs', 3, false])

check('move-jobs', conn.transmit('move-jobs jobs other ready 10'), { status: 'MOVED', id: '1' })

# reserve-batch: transmit reads only the RESERVED_BATCH line; the job
# blocks that follow are read from the socket by hand.
conn.transmit('use batch')
2.times { |i| conn.transmit("put 0 0 60 2\r\nb#{i}") }
conn.transmit('watch batch')
head = conn.transmit('reserve-batch 10 0')
check('reserve-batch', head[:status], 'RESERVED_BATCH')
# Every block is read before the next command: they are already on the wire.
jobs = (1..head[:id].to_i).map do
  _, id, bytes = conn.connection.readline.split
  [id, conn.connection.read(bytes.to_i + 2).chomp("\r\n")]
end
check('reserve-batch bodies', jobs.map(&:last), %w[b0 b1])
jobs.each { |id, _| check("delete #{id}", conn.transmit("delete #{id}")[:status], 'DELETED') }

check('flush-tube', conn.transmit('flush-tube other all'), { status: 'FLUSHED', id: '1' })
check('list-jobs empty', conn.transmit('list-jobs other ready 0 10')[:body], [])

begin
  conn.transmit('stats-log')
  check('stats-log without -b', 'no error', 'NotFoundError')
rescue Beaneater::NotFoundError
  check('stats-log without -b', 'NotFoundError', 'NotFoundError')
end

beanstalk.close
finish
