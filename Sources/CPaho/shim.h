#ifndef AIRLIFT_CPAHO_SHIM_H
#define AIRLIFT_CPAHO_SHIM_H
#include <MQTTAsync.h>

/* Paho's *_initializer macros are brace lists Swift cannot import; these
   functions hand them over as values. */
static inline MQTTAsync_createOptions cpaho_create_options(void) {
  MQTTAsync_createOptions o = MQTTAsync_createOptions_initializer5; return o; }
static inline MQTTAsync_connectOptions cpaho_connect_options(void) {
  MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer5; return o; }
static inline MQTTAsync_SSLOptions cpaho_ssl_options(void) {
  MQTTAsync_SSLOptions o = MQTTAsync_SSLOptions_initializer; return o; }
static inline MQTTAsync_willOptions cpaho_will_options(void) {
  MQTTAsync_willOptions o = MQTTAsync_willOptions_initializer; return o; }
static inline MQTTAsync_responseOptions cpaho_response_options(void) {
  MQTTAsync_responseOptions o = MQTTAsync_responseOptions_initializer; return o; }
static inline MQTTAsync_disconnectOptions cpaho_disconnect_options(void) {
  MQTTAsync_disconnectOptions o = MQTTAsync_disconnectOptions_initializer5; return o; }
static inline MQTTAsync_message cpaho_message(void) {
  MQTTAsync_message o = MQTTAsync_message_initializer; return o; }
static inline MQTTProperties cpaho_properties(void) {
  MQTTProperties o = MQTTProperties_initializer; return o; }
#endif
