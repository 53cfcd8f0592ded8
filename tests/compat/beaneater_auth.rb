# synqd's `auth` through beaneater's raw-command hook, Beaneater::Connection#transmit: the
# snippet of docs/security.md, checked. Usage: ruby beaneater_auth.rb HOST:PORT USER PASSWORD
# (a synqd with --users where USER has put, reserve and peek on the tube "emails"). Prints
# "N passed, M failed" and exits non-zero on a failure.
require 'beaneater'
require_relative 'checks'

addr, user, password = ARGV
beanstalk = Beaneater.new(addr)
conn = beanstalk.connection

# Before auth every command answers NOT_AUTHORIZED; beaneater hands it back as a status.
check('use before auth', conn.transmit('use emails')[:status], 'NOT_AUTHORIZED')
check('wrong password', conn.transmit("auth #{user} not-#{password}")[:status], 'BAD_AUTH')
check('auth', conn.transmit("auth #{user} #{password}")[:status], 'OK_AUTH')

# From here on beaneater's own API works as against any beanstalkd.
tube = beanstalk.tubes['emails']
job = tube.put('hello')
check('put', job[:status], 'INSERTED')
got = tube.reserve(1)
check('reserve', got.body, 'hello')
got.delete
check('peek after delete', tube.peek(:ready), nil)
# A tube the user has no right on.
check('other tube', conn.transmit('use payroll')[:status], 'NOT_AUTHORIZED')

beanstalk.close
finish
