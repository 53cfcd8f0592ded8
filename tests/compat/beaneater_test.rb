# End-to-end check of a beanstalkd-protocol server with Debian's
# ruby-beaneater client: put (pri/delay/ttr), reserve, delete, release,
# bury, kick, touch, peek, watch/ignore, stats.  Every check asserts
# values.  Usage: ruby beaneater_test.rb HOST:PORT
# Expects a fresh server (job ids start at 1).  Prints "N passed, M failed"
# last and exits non-zero when anything failed.

require 'beaneater'
require 'timeout'
require_relative 'checks'

# Run one group of checks; an exception fails the group, not the script.
def group(name)
  Timeout.timeout(20) { yield }
rescue StandardError, Timeout::Error => e
  $failed += 1
  puts "FAIL #{name}: #{e.class}: #{e.message}"
end

address = ARGV[0] or abort "usage: #{$0} HOST:PORT"
bs = Beaneater.new(address)

group('put and peek') do
  tube = bs.tubes['rb-main']
  res = tube.put('hello', pri: 7, delay: 0, ttr: 30)
  check('put status', res[:status], 'INSERTED')
  check('put id', res[:id], '1')
  job = bs.jobs.find(1)
  check('peek body', job.body, 'hello')
  check('job pri', job.pri, 7)
  check('job ttr', job.ttr, 30)
  check('job tube', job.tube, 'rb-main')
  check('peek ready', tube.peek(:ready).id, '1')
  check('peek buried none', tube.peek(:buried), nil)
  check('find missing', bs.jobs.find(999), nil)
end

group('delay') do
  tube = bs.tubes['rb-main']
  res = tube.put('later', pri: 0, delay: 100, ttr: 10)
  check('delayed id', res[:id], '2')
  job = tube.peek(:delayed)
  check('peek delayed', job.body, 'later')
  check('delayed state', job.stats.state, 'delayed')
  check('delayed delay', job.stats.delay, 100)
  job.delete
  check('delayed deleted', bs.jobs.find(2), nil)
end

group('reserve, touch, release, delete') do
  bs.tubes.watch!('rb-main')
  check('watched', bs.tubes.watched.map(&:name), ['rb-main'])
  job = bs.tubes.reserve(1)
  check('reserved id', job.id, '1')
  check('reserved body', job.body, 'hello')
  check('reserved?', job.reserved?, true)
  check('touch', job.touch[:status], 'TOUCHED')
  check('release', job.release(pri: 3, delay: 0)[:status], 'RELEASED')
  check('released pri', job.stats.pri, 3)
  check('released count', job.stats.releases, 1)
  job = bs.tubes.reserve(1)
  check('re-reserved', job.id, '1')
  check('reserves', job.stats.reserves, 2)
  check('delete', job.delete[:status], 'DELETED')
  check('exists after delete', job.exists?, false)
  timed_out = begin
    bs.tubes.reserve(0)
    false
  rescue Beaneater::TimedOutError
    true
  end
  check('reserve timeout 0', timed_out, true)
end

group('bury and kick') do
  tube = bs.tubes['rb-main']
  tube.put('a', pri: 1)
  tube.put('b', pri: 2)
  a = bs.tubes.reserve(1)
  b = bs.tubes.reserve(1)
  check('order', [a.body, b.body], %w[a b])
  check('bury a', a.bury(pri: 50)[:status], 'BURIED')
  check('bury b', b.bury[:status], 'BURIED')
  check('buried state', a.stats.state, 'buried')
  check('buried pri', a.stats.pri, 50)
  check('peek buried', tube.peek(:buried).body, 'a')
  check('kick 1', tube.kick(1)[:id], '1')
  check('kick-job', b.kick[:status], 'KICKED')
  check('tube ready', tube.stats.current_jobs_ready, 2)
  check('tube buried', tube.stats.current_jobs_buried, 0)
  x = bs.tubes.reserve(1)
  y = bs.tubes.reserve(1)
  check('after kick', [x.body, y.body].sort, %w[a b])
  x.delete
  y.delete
end

group('watch and ignore') do
  bs.tubes.watch('rb-other')
  check('watch', bs.tubes.watched.map(&:name).sort, %w[rb-main rb-other])
  bs.tubes.ignore('rb-main')
  check('ignore', bs.tubes.watched.map(&:name), ['rb-other'])
  bs.tubes['rb-main'].put('not-for-us')
  bs.tubes['rb-other'].put('for-us')
  job = bs.tubes.reserve(1)
  check('reserve on watched tube', job.body, 'for-us')
  job.delete
  check('used', bs.tubes.used.name, 'rb-other')
  check('all tubes', bs.tubes.all.map(&:name).sort, %w[default rb-main rb-other])
end

group('stats') do
  st = bs.stats
  check('cmd-put', st.cmd_put, 6)
  check('total-jobs', st.total_jobs, 6)
  check('current-jobs-ready', st.current_jobs_ready, 1)
  check('max-job-size', st.max_job_size, 65535)
  check('draining', st.draining, false)
  check('pid is int', st.pid.is_a?(Integer), true)
  ts = bs.tubes['rb-main'].stats
  check('tube name', ts.name, 'rb-main')
  check('tube total', ts.total_jobs, 5)
  check('pause', bs.tubes['rb-main'].pause(0)[:status], 'PAUSED')
end

bs.close
finish
