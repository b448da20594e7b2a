/* Prints the layouts of the aws/http/websocket.h structs that src/websocket.rs declares
 * by hand, as Rust constants; build.rs compiles and runs this against the CRT's installed
 * headers and src/websocket.rs asserts its declarations against them at compile time. */
#include <aws/http/websocket.h>
#include <stddef.h>
#include <stdio.h>

#define SIZE(name, T) printf("pub const " name "_SIZE: usize = %zu;\n", sizeof(struct T))
#define ALIGN(name, T) printf("pub const " name "_ALIGN: usize = %zu;\n", _Alignof(struct T))
#define OFF(name, T, f) printf("pub const " name "_" #f ": usize = %zu;\n", offsetof(struct T, f))

int main(void) {
    SIZE("SETUP", aws_websocket_on_connection_setup_data);
    ALIGN("SETUP", aws_websocket_on_connection_setup_data);
    OFF("SETUP", aws_websocket_on_connection_setup_data, error_code);
    OFF("SETUP", aws_websocket_on_connection_setup_data, websocket);
    OFF("SETUP", aws_websocket_on_connection_setup_data, handshake_response_status);
    OFF("SETUP", aws_websocket_on_connection_setup_data, handshake_response_header_array);
    OFF("SETUP", aws_websocket_on_connection_setup_data, num_handshake_response_headers);
    OFF("SETUP", aws_websocket_on_connection_setup_data, handshake_response_body);

    SIZE("FRAME", aws_websocket_incoming_frame);
    ALIGN("FRAME", aws_websocket_incoming_frame);
    OFF("FRAME", aws_websocket_incoming_frame, payload_length);
    OFF("FRAME", aws_websocket_incoming_frame, opcode);
    OFF("FRAME", aws_websocket_incoming_frame, fin);

    SIZE("CONNECT", aws_websocket_client_connection_options);
    ALIGN("CONNECT", aws_websocket_client_connection_options);
    OFF("CONNECT", aws_websocket_client_connection_options, allocator);
    OFF("CONNECT", aws_websocket_client_connection_options, bootstrap);
    OFF("CONNECT", aws_websocket_client_connection_options, socket_options);
    OFF("CONNECT", aws_websocket_client_connection_options, tls_options);
    OFF("CONNECT", aws_websocket_client_connection_options, proxy_options);
    OFF("CONNECT", aws_websocket_client_connection_options, host);
    OFF("CONNECT", aws_websocket_client_connection_options, port);
    OFF("CONNECT", aws_websocket_client_connection_options, handshake_request);
    OFF("CONNECT", aws_websocket_client_connection_options, initial_window_size);
    OFF("CONNECT", aws_websocket_client_connection_options, user_data);
    OFF("CONNECT", aws_websocket_client_connection_options, on_connection_setup);
    OFF("CONNECT", aws_websocket_client_connection_options, on_connection_shutdown);
    OFF("CONNECT", aws_websocket_client_connection_options, on_incoming_frame_begin);
    OFF("CONNECT", aws_websocket_client_connection_options, on_incoming_frame_payload);
    OFF("CONNECT", aws_websocket_client_connection_options, on_incoming_frame_complete);
    OFF("CONNECT", aws_websocket_client_connection_options, manual_window_management);
    OFF("CONNECT", aws_websocket_client_connection_options, requested_event_loop);
    OFF("CONNECT", aws_websocket_client_connection_options, host_resolution_config);

    SIZE("SEND", aws_websocket_send_frame_options);
    ALIGN("SEND", aws_websocket_send_frame_options);
    OFF("SEND", aws_websocket_send_frame_options, payload_length);
    OFF("SEND", aws_websocket_send_frame_options, user_data);
    OFF("SEND", aws_websocket_send_frame_options, stream_outgoing_payload);
    OFF("SEND", aws_websocket_send_frame_options, on_complete);
    OFF("SEND", aws_websocket_send_frame_options, opcode);
    OFF("SEND", aws_websocket_send_frame_options, fin);
    return 0;
}
