package sts

// SKU names this library in the x-client-SKU header. Entra's telemetry and
// Microsoft support use it to tell azid's traffic apart from MSAL's.
const SKU = "azid-go"

// Version is sent as x-client-VER next to SKU. It must move with azid's release
// tags so that a support case can be matched to the code that sent the request.
const Version = "0.1.0"
