<?php
// synqd's `auth` through Pheanstalk 4's Connection::dispatchCommand with a command class of
// our own: the snippet of docs/security.md, checked. Usage: php pheanstalk_auth.php PORT USER
// PASSWORD (a synqd with --users where USER has put, reserve and peek on the tube "emails").
// Prints "N passed, M failed" and exits non-zero on a failure.
require_once '/usr/share/php/Pheanstalk/autoload.php';

use Pheanstalk\Connection;
use Pheanstalk\Contract\CommandInterface;
use Pheanstalk\Contract\ResponseParserInterface;
use Pheanstalk\Pheanstalk;
use Pheanstalk\Response\ArrayResponse;
use Pheanstalk\SocketFactory;

final class AuthCommand implements CommandInterface, ResponseParserInterface
{
    private $line;

    public function __construct(string $user, string $password)
    {
        $this->line = "auth $user $password";
    }

    public function getCommandLine(): string { return $this->line; }
    public function hasData(): bool { return false; }
    public function getData(): string { return ''; }
    public function getDataLength(): int { return 0; }
    public function getResponseParser(): ResponseParserInterface { return $this; }

    public function parseResponse(string $responseLine, ?string $responseData): ArrayResponse
    {
        return new ArrayResponse($responseLine, []);
    }
}

$passed = 0;
$failed = 0;
function check($what, $got, $want)
{
    global $passed, $failed;
    if ($got === $want) {
        $passed++;
    } else {
        $failed++;
        echo "FAIL $what: got ", var_export($got, true), ", want ", var_export($want, true), "\n";
    }
}

[$_, $port, $user, $password] = $argv;
$connection = new Connection(new SocketFactory('127.0.0.1', (int) $port));
$bad = $connection->dispatchCommand(new AuthCommand($user, 'not-' . $password));
check('wrong password', $bad->getResponseName(), 'BAD_AUTH');
$ok = $connection->dispatchCommand(new AuthCommand($user, $password));
check('auth', $ok->getResponseName(), 'OK_AUTH');

// The same connection, now logged in, under Pheanstalk's own API.
$queue = new Pheanstalk($connection);
$queue->useTube('emails');
$id = $queue->put('hello')->getId();
$queue->watchOnly('emails');
$job = $queue->reserveWithTimeout(1);
check('reserve', $job ? $job->getData() : null, 'hello');
check('same job', $job ? $job->getId() : null, $id);
$queue->delete($job);
check('empty', $queue->peekReady(), null);

echo "$passed passed, $failed failed\n";
exit($failed === 0 ? 0 : 1);
