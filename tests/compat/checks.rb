# The check helpers the beaneater scripts share: check(what, got, want) counts a pass or
# prints the failure; finish prints "N passed, M failed" (what the Python wrappers read) and
# exits non-zero on a failure.
$passed = 0
$failed = 0

def check(what, got, want)
  if got == want
    $passed += 1
  else
    $failed += 1
    puts "FAIL #{what}: got #{got.inspect}, want #{want.inspect}"
  end
end

def finish
  puts "#{$passed} passed, #{$failed} failed"
  exit($failed.zero? ? 0 : 1)
end
