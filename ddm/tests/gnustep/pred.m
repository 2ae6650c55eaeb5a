// GNUstep's NSPredicate as an independent evaluator for ddm's predicate tests.
// Usage: pred '<format with $v0, $v1, ...>' [s:<string> | n:<number> | b:<0|1> | x:]...
// (`x:` leaves that variable unbound, so it reads as nil).
// Prints `true`, `false`, or `error <reason>` (exit 2) when the format does not parse.
// Built and run by ddm/tests/behaviour.rs (gcc + gnustep-config, Debian libgnustep-base-dev).
#import <Foundation/Foundation.h>
int main(int argc, const char **argv) {
  NSAutoreleasePool *pool = [[NSAutoreleasePool alloc] init];
  NSString *fmt = [NSString stringWithUTF8String:argv[1]];
  NSMutableDictionary *vars = [NSMutableDictionary dictionary];
  int i;
  for (i = 2; i < argc; i++) {
    NSString *a = [NSString stringWithUTF8String:argv[i]];
    NSString *body = [a substringFromIndex:2];
    id v;
    if ([a hasPrefix:@"x:"]) continue;
    if ([a hasPrefix:@"s:"]) v = body;
    else if ([a hasPrefix:@"n:"]) v = [NSNumber numberWithDouble:[body doubleValue]];
    else v = [NSNumber numberWithBool:[body isEqualToString:@"1"]];
    [vars setObject:v forKey:[NSString stringWithFormat:@"v%d", i - 2]];
  }
  int rc = 0;
  NS_DURING
    NSPredicate *p = [NSPredicate predicateWithFormat:fmt];
    BOOL r = [p evaluateWithObject:nil substitutionVariables:vars];
    printf("%s\n", r ? "true" : "false");
  NS_HANDLER
    printf("error %s\n", [[localException reason] UTF8String]);
    rc = 2;
  NS_ENDHANDLER
  [pool release];
  return rc;
}
