package dev.wellspring.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * Users: the standard methods (AIP-131..135), batch get (AIP-231) and bulk
 * import/export.
 * </pre>
 */
@javax.annotation.Generated(
    value = "by gRPC proto compiler",
    comments = "Source: wellspring/v1/user_service.proto")
@io.grpc.stub.annotations.GrpcGenerated
public final class UserServiceGrpc {

  private UserServiceGrpc() {}

  public static final String SERVICE_NAME = "wellspring.v1.UserService";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<dev.wellspring.v1.GetUserRequest,
      dev.wellspring.v1.User> getGetUserMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "GetUser",
      requestType = dev.wellspring.v1.GetUserRequest.class,
      responseType = dev.wellspring.v1.User.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.wellspring.v1.GetUserRequest,
      dev.wellspring.v1.User> getGetUserMethod() {
    io.grpc.MethodDescriptor<dev.wellspring.v1.GetUserRequest, dev.wellspring.v1.User> getGetUserMethod;
    if ((getGetUserMethod = UserServiceGrpc.getGetUserMethod) == null) {
      synchronized (UserServiceGrpc.class) {
        if ((getGetUserMethod = UserServiceGrpc.getGetUserMethod) == null) {
          UserServiceGrpc.getGetUserMethod = getGetUserMethod =
              io.grpc.MethodDescriptor.<dev.wellspring.v1.GetUserRequest, dev.wellspring.v1.User>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "GetUser"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.GetUserRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.User.getDefaultInstance()))
              .setSchemaDescriptor(new UserServiceMethodDescriptorSupplier("GetUser"))
              .build();
        }
      }
    }
    return getGetUserMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.wellspring.v1.BatchGetUsersRequest,
      dev.wellspring.v1.BatchGetUsersResponse> getBatchGetUsersMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "BatchGetUsers",
      requestType = dev.wellspring.v1.BatchGetUsersRequest.class,
      responseType = dev.wellspring.v1.BatchGetUsersResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.wellspring.v1.BatchGetUsersRequest,
      dev.wellspring.v1.BatchGetUsersResponse> getBatchGetUsersMethod() {
    io.grpc.MethodDescriptor<dev.wellspring.v1.BatchGetUsersRequest, dev.wellspring.v1.BatchGetUsersResponse> getBatchGetUsersMethod;
    if ((getBatchGetUsersMethod = UserServiceGrpc.getBatchGetUsersMethod) == null) {
      synchronized (UserServiceGrpc.class) {
        if ((getBatchGetUsersMethod = UserServiceGrpc.getBatchGetUsersMethod) == null) {
          UserServiceGrpc.getBatchGetUsersMethod = getBatchGetUsersMethod =
              io.grpc.MethodDescriptor.<dev.wellspring.v1.BatchGetUsersRequest, dev.wellspring.v1.BatchGetUsersResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "BatchGetUsers"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.BatchGetUsersRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.BatchGetUsersResponse.getDefaultInstance()))
              .setSchemaDescriptor(new UserServiceMethodDescriptorSupplier("BatchGetUsers"))
              .build();
        }
      }
    }
    return getBatchGetUsersMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.wellspring.v1.ListUsersRequest,
      dev.wellspring.v1.ListUsersResponse> getListUsersMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListUsers",
      requestType = dev.wellspring.v1.ListUsersRequest.class,
      responseType = dev.wellspring.v1.ListUsersResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.wellspring.v1.ListUsersRequest,
      dev.wellspring.v1.ListUsersResponse> getListUsersMethod() {
    io.grpc.MethodDescriptor<dev.wellspring.v1.ListUsersRequest, dev.wellspring.v1.ListUsersResponse> getListUsersMethod;
    if ((getListUsersMethod = UserServiceGrpc.getListUsersMethod) == null) {
      synchronized (UserServiceGrpc.class) {
        if ((getListUsersMethod = UserServiceGrpc.getListUsersMethod) == null) {
          UserServiceGrpc.getListUsersMethod = getListUsersMethod =
              io.grpc.MethodDescriptor.<dev.wellspring.v1.ListUsersRequest, dev.wellspring.v1.ListUsersResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListUsers"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.ListUsersRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.ListUsersResponse.getDefaultInstance()))
              .setSchemaDescriptor(new UserServiceMethodDescriptorSupplier("ListUsers"))
              .build();
        }
      }
    }
    return getListUsersMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.wellspring.v1.CreateUserRequest,
      dev.wellspring.v1.User> getCreateUserMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "CreateUser",
      requestType = dev.wellspring.v1.CreateUserRequest.class,
      responseType = dev.wellspring.v1.User.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.wellspring.v1.CreateUserRequest,
      dev.wellspring.v1.User> getCreateUserMethod() {
    io.grpc.MethodDescriptor<dev.wellspring.v1.CreateUserRequest, dev.wellspring.v1.User> getCreateUserMethod;
    if ((getCreateUserMethod = UserServiceGrpc.getCreateUserMethod) == null) {
      synchronized (UserServiceGrpc.class) {
        if ((getCreateUserMethod = UserServiceGrpc.getCreateUserMethod) == null) {
          UserServiceGrpc.getCreateUserMethod = getCreateUserMethod =
              io.grpc.MethodDescriptor.<dev.wellspring.v1.CreateUserRequest, dev.wellspring.v1.User>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "CreateUser"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.CreateUserRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.User.getDefaultInstance()))
              .setSchemaDescriptor(new UserServiceMethodDescriptorSupplier("CreateUser"))
              .build();
        }
      }
    }
    return getCreateUserMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.wellspring.v1.UpdateUserRequest,
      dev.wellspring.v1.User> getUpdateUserMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "UpdateUser",
      requestType = dev.wellspring.v1.UpdateUserRequest.class,
      responseType = dev.wellspring.v1.User.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.wellspring.v1.UpdateUserRequest,
      dev.wellspring.v1.User> getUpdateUserMethod() {
    io.grpc.MethodDescriptor<dev.wellspring.v1.UpdateUserRequest, dev.wellspring.v1.User> getUpdateUserMethod;
    if ((getUpdateUserMethod = UserServiceGrpc.getUpdateUserMethod) == null) {
      synchronized (UserServiceGrpc.class) {
        if ((getUpdateUserMethod = UserServiceGrpc.getUpdateUserMethod) == null) {
          UserServiceGrpc.getUpdateUserMethod = getUpdateUserMethod =
              io.grpc.MethodDescriptor.<dev.wellspring.v1.UpdateUserRequest, dev.wellspring.v1.User>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "UpdateUser"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.UpdateUserRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.User.getDefaultInstance()))
              .setSchemaDescriptor(new UserServiceMethodDescriptorSupplier("UpdateUser"))
              .build();
        }
      }
    }
    return getUpdateUserMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.wellspring.v1.DeleteUserRequest,
      com.google.protobuf.Empty> getDeleteUserMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "DeleteUser",
      requestType = dev.wellspring.v1.DeleteUserRequest.class,
      responseType = com.google.protobuf.Empty.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.wellspring.v1.DeleteUserRequest,
      com.google.protobuf.Empty> getDeleteUserMethod() {
    io.grpc.MethodDescriptor<dev.wellspring.v1.DeleteUserRequest, com.google.protobuf.Empty> getDeleteUserMethod;
    if ((getDeleteUserMethod = UserServiceGrpc.getDeleteUserMethod) == null) {
      synchronized (UserServiceGrpc.class) {
        if ((getDeleteUserMethod = UserServiceGrpc.getDeleteUserMethod) == null) {
          UserServiceGrpc.getDeleteUserMethod = getDeleteUserMethod =
              io.grpc.MethodDescriptor.<dev.wellspring.v1.DeleteUserRequest, com.google.protobuf.Empty>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "DeleteUser"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.DeleteUserRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.google.protobuf.Empty.getDefaultInstance()))
              .setSchemaDescriptor(new UserServiceMethodDescriptorSupplier("DeleteUser"))
              .build();
        }
      }
    }
    return getDeleteUserMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.wellspring.v1.ImportUsersRequest,
      dev.wellspring.v1.ImportUsersResponse> getImportUsersMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ImportUsers",
      requestType = dev.wellspring.v1.ImportUsersRequest.class,
      responseType = dev.wellspring.v1.ImportUsersResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.CLIENT_STREAMING)
  public static io.grpc.MethodDescriptor<dev.wellspring.v1.ImportUsersRequest,
      dev.wellspring.v1.ImportUsersResponse> getImportUsersMethod() {
    io.grpc.MethodDescriptor<dev.wellspring.v1.ImportUsersRequest, dev.wellspring.v1.ImportUsersResponse> getImportUsersMethod;
    if ((getImportUsersMethod = UserServiceGrpc.getImportUsersMethod) == null) {
      synchronized (UserServiceGrpc.class) {
        if ((getImportUsersMethod = UserServiceGrpc.getImportUsersMethod) == null) {
          UserServiceGrpc.getImportUsersMethod = getImportUsersMethod =
              io.grpc.MethodDescriptor.<dev.wellspring.v1.ImportUsersRequest, dev.wellspring.v1.ImportUsersResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.CLIENT_STREAMING)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ImportUsers"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.ImportUsersRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.ImportUsersResponse.getDefaultInstance()))
              .setSchemaDescriptor(new UserServiceMethodDescriptorSupplier("ImportUsers"))
              .build();
        }
      }
    }
    return getImportUsersMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.wellspring.v1.ExportUsersRequest,
      dev.wellspring.v1.ExportUsersResponse> getExportUsersMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ExportUsers",
      requestType = dev.wellspring.v1.ExportUsersRequest.class,
      responseType = dev.wellspring.v1.ExportUsersResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
  public static io.grpc.MethodDescriptor<dev.wellspring.v1.ExportUsersRequest,
      dev.wellspring.v1.ExportUsersResponse> getExportUsersMethod() {
    io.grpc.MethodDescriptor<dev.wellspring.v1.ExportUsersRequest, dev.wellspring.v1.ExportUsersResponse> getExportUsersMethod;
    if ((getExportUsersMethod = UserServiceGrpc.getExportUsersMethod) == null) {
      synchronized (UserServiceGrpc.class) {
        if ((getExportUsersMethod = UserServiceGrpc.getExportUsersMethod) == null) {
          UserServiceGrpc.getExportUsersMethod = getExportUsersMethod =
              io.grpc.MethodDescriptor.<dev.wellspring.v1.ExportUsersRequest, dev.wellspring.v1.ExportUsersResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ExportUsers"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.ExportUsersRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.ExportUsersResponse.getDefaultInstance()))
              .setSchemaDescriptor(new UserServiceMethodDescriptorSupplier("ExportUsers"))
              .build();
        }
      }
    }
    return getExportUsersMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static UserServiceStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<UserServiceStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<UserServiceStub>() {
        @java.lang.Override
        public UserServiceStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new UserServiceStub(channel, callOptions);
        }
      };
    return UserServiceStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static UserServiceBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<UserServiceBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<UserServiceBlockingStub>() {
        @java.lang.Override
        public UserServiceBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new UserServiceBlockingStub(channel, callOptions);
        }
      };
    return UserServiceBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static UserServiceFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<UserServiceFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<UserServiceFutureStub>() {
        @java.lang.Override
        public UserServiceFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new UserServiceFutureStub(channel, callOptions);
        }
      };
    return UserServiceFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * Users: the standard methods (AIP-131..135), batch get (AIP-231) and bulk
   * import/export.
   * </pre>
   */
  public static abstract class UserServiceImplBase implements io.grpc.BindableService {

    /**
     * <pre>
     * Returns one user. NOT_FOUND if absent.
     * </pre>
     */
    public void getUser(dev.wellspring.v1.GetUserRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.User> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getGetUserMethod(), responseObserver);
    }

    /**
     * <pre>
     * Returns 1-1000 users in request order from one snapshot. NOT_FOUND
     * naming every missing id if any is absent.
     * </pre>
     */
    public void batchGetUsers(dev.wellspring.v1.BatchGetUsersRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.BatchGetUsersResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getBatchGetUsersMethod(), responseObserver);
    }

    /**
     * <pre>
     * Lists users a page at a time (keyset pagination).
     * </pre>
     */
    public void listUsers(dev.wellspring.v1.ListUsersRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.ListUsersResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListUsersMethod(), responseObserver);
    }

    /**
     * <pre>
     * Creates a user. ALREADY_EXISTS for a taken id or email.
     * </pre>
     */
    public void createUser(dev.wellspring.v1.CreateUserRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.User> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getCreateUserMethod(), responseObserver);
    }

    /**
     * <pre>
     * Updates a user. ABORTED if `user.etag` is set and stale.
     * </pre>
     */
    public void updateUser(dev.wellspring.v1.UpdateUserRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.User> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getUpdateUserMethod(), responseObserver);
    }

    /**
     * <pre>
     * Deletes a user. FAILED_PRECONDITION if they have posts or
     * comments, unless `force`.
     * </pre>
     */
    public void deleteUser(dev.wellspring.v1.DeleteUserRequest request,
        io.grpc.stub.StreamObserver<com.google.protobuf.Empty> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getDeleteUserMethod(), responseObserver);
    }

    /**
     * <pre>
     * Bulk upsert by id from a client stream, committed in chunks.
     * </pre>
     */
    public io.grpc.stub.StreamObserver<dev.wellspring.v1.ImportUsersRequest> importUsers(
        io.grpc.stub.StreamObserver<dev.wellspring.v1.ImportUsersResponse> responseObserver) {
      return io.grpc.stub.ServerCalls.asyncUnimplementedStreamingCall(getImportUsersMethod(), responseObserver);
    }

    /**
     * <pre>
     * Streams every matching user from one snapshot, many per message.
     * </pre>
     */
    public void exportUsers(dev.wellspring.v1.ExportUsersRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.ExportUsersResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getExportUsersMethod(), responseObserver);
    }

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return io.grpc.ServerServiceDefinition.builder(getServiceDescriptor())
          .addMethod(
            getGetUserMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.wellspring.v1.GetUserRequest,
                dev.wellspring.v1.User>(
                  this, METHODID_GET_USER)))
          .addMethod(
            getBatchGetUsersMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.wellspring.v1.BatchGetUsersRequest,
                dev.wellspring.v1.BatchGetUsersResponse>(
                  this, METHODID_BATCH_GET_USERS)))
          .addMethod(
            getListUsersMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.wellspring.v1.ListUsersRequest,
                dev.wellspring.v1.ListUsersResponse>(
                  this, METHODID_LIST_USERS)))
          .addMethod(
            getCreateUserMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.wellspring.v1.CreateUserRequest,
                dev.wellspring.v1.User>(
                  this, METHODID_CREATE_USER)))
          .addMethod(
            getUpdateUserMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.wellspring.v1.UpdateUserRequest,
                dev.wellspring.v1.User>(
                  this, METHODID_UPDATE_USER)))
          .addMethod(
            getDeleteUserMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.wellspring.v1.DeleteUserRequest,
                com.google.protobuf.Empty>(
                  this, METHODID_DELETE_USER)))
          .addMethod(
            getImportUsersMethod(),
            io.grpc.stub.ServerCalls.asyncClientStreamingCall(
              new MethodHandlers<
                dev.wellspring.v1.ImportUsersRequest,
                dev.wellspring.v1.ImportUsersResponse>(
                  this, METHODID_IMPORT_USERS)))
          .addMethod(
            getExportUsersMethod(),
            io.grpc.stub.ServerCalls.asyncServerStreamingCall(
              new MethodHandlers<
                dev.wellspring.v1.ExportUsersRequest,
                dev.wellspring.v1.ExportUsersResponse>(
                  this, METHODID_EXPORT_USERS)))
          .build();
    }
  }

  /**
   * <pre>
   * Users: the standard methods (AIP-131..135), batch get (AIP-231) and bulk
   * import/export.
   * </pre>
   */
  public static final class UserServiceStub extends io.grpc.stub.AbstractAsyncStub<UserServiceStub> {
    private UserServiceStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected UserServiceStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new UserServiceStub(channel, callOptions);
    }

    /**
     * <pre>
     * Returns one user. NOT_FOUND if absent.
     * </pre>
     */
    public void getUser(dev.wellspring.v1.GetUserRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.User> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getGetUserMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Returns 1-1000 users in request order from one snapshot. NOT_FOUND
     * naming every missing id if any is absent.
     * </pre>
     */
    public void batchGetUsers(dev.wellspring.v1.BatchGetUsersRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.BatchGetUsersResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getBatchGetUsersMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Lists users a page at a time (keyset pagination).
     * </pre>
     */
    public void listUsers(dev.wellspring.v1.ListUsersRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.ListUsersResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListUsersMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Creates a user. ALREADY_EXISTS for a taken id or email.
     * </pre>
     */
    public void createUser(dev.wellspring.v1.CreateUserRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.User> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getCreateUserMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Updates a user. ABORTED if `user.etag` is set and stale.
     * </pre>
     */
    public void updateUser(dev.wellspring.v1.UpdateUserRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.User> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getUpdateUserMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Deletes a user. FAILED_PRECONDITION if they have posts or
     * comments, unless `force`.
     * </pre>
     */
    public void deleteUser(dev.wellspring.v1.DeleteUserRequest request,
        io.grpc.stub.StreamObserver<com.google.protobuf.Empty> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getDeleteUserMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Bulk upsert by id from a client stream, committed in chunks.
     * </pre>
     */
    public io.grpc.stub.StreamObserver<dev.wellspring.v1.ImportUsersRequest> importUsers(
        io.grpc.stub.StreamObserver<dev.wellspring.v1.ImportUsersResponse> responseObserver) {
      return io.grpc.stub.ClientCalls.asyncClientStreamingCall(
          getChannel().newCall(getImportUsersMethod(), getCallOptions()), responseObserver);
    }

    /**
     * <pre>
     * Streams every matching user from one snapshot, many per message.
     * </pre>
     */
    public void exportUsers(dev.wellspring.v1.ExportUsersRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.ExportUsersResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncServerStreamingCall(
          getChannel().newCall(getExportUsersMethod(), getCallOptions()), request, responseObserver);
    }
  }

  /**
   * <pre>
   * Users: the standard methods (AIP-131..135), batch get (AIP-231) and bulk
   * import/export.
   * </pre>
   */
  public static final class UserServiceBlockingStub extends io.grpc.stub.AbstractBlockingStub<UserServiceBlockingStub> {
    private UserServiceBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected UserServiceBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new UserServiceBlockingStub(channel, callOptions);
    }

    /**
     * <pre>
     * Returns one user. NOT_FOUND if absent.
     * </pre>
     */
    public dev.wellspring.v1.User getUser(dev.wellspring.v1.GetUserRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getGetUserMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Returns 1-1000 users in request order from one snapshot. NOT_FOUND
     * naming every missing id if any is absent.
     * </pre>
     */
    public dev.wellspring.v1.BatchGetUsersResponse batchGetUsers(dev.wellspring.v1.BatchGetUsersRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getBatchGetUsersMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Lists users a page at a time (keyset pagination).
     * </pre>
     */
    public dev.wellspring.v1.ListUsersResponse listUsers(dev.wellspring.v1.ListUsersRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListUsersMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Creates a user. ALREADY_EXISTS for a taken id or email.
     * </pre>
     */
    public dev.wellspring.v1.User createUser(dev.wellspring.v1.CreateUserRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getCreateUserMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Updates a user. ABORTED if `user.etag` is set and stale.
     * </pre>
     */
    public dev.wellspring.v1.User updateUser(dev.wellspring.v1.UpdateUserRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getUpdateUserMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Deletes a user. FAILED_PRECONDITION if they have posts or
     * comments, unless `force`.
     * </pre>
     */
    public com.google.protobuf.Empty deleteUser(dev.wellspring.v1.DeleteUserRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getDeleteUserMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Streams every matching user from one snapshot, many per message.
     * </pre>
     */
    public java.util.Iterator<dev.wellspring.v1.ExportUsersResponse> exportUsers(
        dev.wellspring.v1.ExportUsersRequest request) {
      return io.grpc.stub.ClientCalls.blockingServerStreamingCall(
          getChannel(), getExportUsersMethod(), getCallOptions(), request);
    }
  }

  /**
   * <pre>
   * Users: the standard methods (AIP-131..135), batch get (AIP-231) and bulk
   * import/export.
   * </pre>
   */
  public static final class UserServiceFutureStub extends io.grpc.stub.AbstractFutureStub<UserServiceFutureStub> {
    private UserServiceFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected UserServiceFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new UserServiceFutureStub(channel, callOptions);
    }

    /**
     * <pre>
     * Returns one user. NOT_FOUND if absent.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.wellspring.v1.User> getUser(
        dev.wellspring.v1.GetUserRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getGetUserMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Returns 1-1000 users in request order from one snapshot. NOT_FOUND
     * naming every missing id if any is absent.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.wellspring.v1.BatchGetUsersResponse> batchGetUsers(
        dev.wellspring.v1.BatchGetUsersRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getBatchGetUsersMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Lists users a page at a time (keyset pagination).
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.wellspring.v1.ListUsersResponse> listUsers(
        dev.wellspring.v1.ListUsersRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListUsersMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Creates a user. ALREADY_EXISTS for a taken id or email.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.wellspring.v1.User> createUser(
        dev.wellspring.v1.CreateUserRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getCreateUserMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Updates a user. ABORTED if `user.etag` is set and stale.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.wellspring.v1.User> updateUser(
        dev.wellspring.v1.UpdateUserRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getUpdateUserMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Deletes a user. FAILED_PRECONDITION if they have posts or
     * comments, unless `force`.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.google.protobuf.Empty> deleteUser(
        dev.wellspring.v1.DeleteUserRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getDeleteUserMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_GET_USER = 0;
  private static final int METHODID_BATCH_GET_USERS = 1;
  private static final int METHODID_LIST_USERS = 2;
  private static final int METHODID_CREATE_USER = 3;
  private static final int METHODID_UPDATE_USER = 4;
  private static final int METHODID_DELETE_USER = 5;
  private static final int METHODID_EXPORT_USERS = 6;
  private static final int METHODID_IMPORT_USERS = 7;

  private static final class MethodHandlers<Req, Resp> implements
      io.grpc.stub.ServerCalls.UnaryMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ServerStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ClientStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.BidiStreamingMethod<Req, Resp> {
    private final UserServiceImplBase serviceImpl;
    private final int methodId;

    MethodHandlers(UserServiceImplBase serviceImpl, int methodId) {
      this.serviceImpl = serviceImpl;
      this.methodId = methodId;
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public void invoke(Req request, io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_GET_USER:
          serviceImpl.getUser((dev.wellspring.v1.GetUserRequest) request,
              (io.grpc.stub.StreamObserver<dev.wellspring.v1.User>) responseObserver);
          break;
        case METHODID_BATCH_GET_USERS:
          serviceImpl.batchGetUsers((dev.wellspring.v1.BatchGetUsersRequest) request,
              (io.grpc.stub.StreamObserver<dev.wellspring.v1.BatchGetUsersResponse>) responseObserver);
          break;
        case METHODID_LIST_USERS:
          serviceImpl.listUsers((dev.wellspring.v1.ListUsersRequest) request,
              (io.grpc.stub.StreamObserver<dev.wellspring.v1.ListUsersResponse>) responseObserver);
          break;
        case METHODID_CREATE_USER:
          serviceImpl.createUser((dev.wellspring.v1.CreateUserRequest) request,
              (io.grpc.stub.StreamObserver<dev.wellspring.v1.User>) responseObserver);
          break;
        case METHODID_UPDATE_USER:
          serviceImpl.updateUser((dev.wellspring.v1.UpdateUserRequest) request,
              (io.grpc.stub.StreamObserver<dev.wellspring.v1.User>) responseObserver);
          break;
        case METHODID_DELETE_USER:
          serviceImpl.deleteUser((dev.wellspring.v1.DeleteUserRequest) request,
              (io.grpc.stub.StreamObserver<com.google.protobuf.Empty>) responseObserver);
          break;
        case METHODID_EXPORT_USERS:
          serviceImpl.exportUsers((dev.wellspring.v1.ExportUsersRequest) request,
              (io.grpc.stub.StreamObserver<dev.wellspring.v1.ExportUsersResponse>) responseObserver);
          break;
        default:
          throw new AssertionError();
      }
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public io.grpc.stub.StreamObserver<Req> invoke(
        io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_IMPORT_USERS:
          return (io.grpc.stub.StreamObserver<Req>) serviceImpl.importUsers(
              (io.grpc.stub.StreamObserver<dev.wellspring.v1.ImportUsersResponse>) responseObserver);
        default:
          throw new AssertionError();
      }
    }
  }

  private static abstract class UserServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    UserServiceBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return dev.wellspring.v1.UserServiceProto.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("UserService");
    }
  }

  private static final class UserServiceFileDescriptorSupplier
      extends UserServiceBaseDescriptorSupplier {
    UserServiceFileDescriptorSupplier() {}
  }

  private static final class UserServiceMethodDescriptorSupplier
      extends UserServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final String methodName;

    UserServiceMethodDescriptorSupplier(String methodName) {
      this.methodName = methodName;
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.MethodDescriptor getMethodDescriptor() {
      return getServiceDescriptor().findMethodByName(methodName);
    }
  }

  private static volatile io.grpc.ServiceDescriptor serviceDescriptor;

  public static io.grpc.ServiceDescriptor getServiceDescriptor() {
    io.grpc.ServiceDescriptor result = serviceDescriptor;
    if (result == null) {
      synchronized (UserServiceGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new UserServiceFileDescriptorSupplier())
              .addMethod(getGetUserMethod())
              .addMethod(getBatchGetUsersMethod())
              .addMethod(getListUsersMethod())
              .addMethod(getCreateUserMethod())
              .addMethod(getUpdateUserMethod())
              .addMethod(getDeleteUserMethod())
              .addMethod(getImportUsersMethod())
              .addMethod(getExportUsersMethod())
              .build();
        }
      }
    }
    return result;
  }
}
