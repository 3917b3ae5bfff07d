package dev.wellspring.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * Comments: the standard methods (AIP-131..135), batch get (AIP-231) and
 * bulk import/export.
 * </pre>
 */
@javax.annotation.Generated(
    value = "by gRPC proto compiler",
    comments = "Source: wellspring/v1/comment_service.proto")
@io.grpc.stub.annotations.GrpcGenerated
public final class CommentServiceGrpc {

  private CommentServiceGrpc() {}

  public static final String SERVICE_NAME = "wellspring.v1.CommentService";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<dev.wellspring.v1.GetCommentRequest,
      dev.wellspring.v1.Comment> getGetCommentMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "GetComment",
      requestType = dev.wellspring.v1.GetCommentRequest.class,
      responseType = dev.wellspring.v1.Comment.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.wellspring.v1.GetCommentRequest,
      dev.wellspring.v1.Comment> getGetCommentMethod() {
    io.grpc.MethodDescriptor<dev.wellspring.v1.GetCommentRequest, dev.wellspring.v1.Comment> getGetCommentMethod;
    if ((getGetCommentMethod = CommentServiceGrpc.getGetCommentMethod) == null) {
      synchronized (CommentServiceGrpc.class) {
        if ((getGetCommentMethod = CommentServiceGrpc.getGetCommentMethod) == null) {
          CommentServiceGrpc.getGetCommentMethod = getGetCommentMethod =
              io.grpc.MethodDescriptor.<dev.wellspring.v1.GetCommentRequest, dev.wellspring.v1.Comment>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "GetComment"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.GetCommentRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.Comment.getDefaultInstance()))
              .setSchemaDescriptor(new CommentServiceMethodDescriptorSupplier("GetComment"))
              .build();
        }
      }
    }
    return getGetCommentMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.wellspring.v1.BatchGetCommentsRequest,
      dev.wellspring.v1.BatchGetCommentsResponse> getBatchGetCommentsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "BatchGetComments",
      requestType = dev.wellspring.v1.BatchGetCommentsRequest.class,
      responseType = dev.wellspring.v1.BatchGetCommentsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.wellspring.v1.BatchGetCommentsRequest,
      dev.wellspring.v1.BatchGetCommentsResponse> getBatchGetCommentsMethod() {
    io.grpc.MethodDescriptor<dev.wellspring.v1.BatchGetCommentsRequest, dev.wellspring.v1.BatchGetCommentsResponse> getBatchGetCommentsMethod;
    if ((getBatchGetCommentsMethod = CommentServiceGrpc.getBatchGetCommentsMethod) == null) {
      synchronized (CommentServiceGrpc.class) {
        if ((getBatchGetCommentsMethod = CommentServiceGrpc.getBatchGetCommentsMethod) == null) {
          CommentServiceGrpc.getBatchGetCommentsMethod = getBatchGetCommentsMethod =
              io.grpc.MethodDescriptor.<dev.wellspring.v1.BatchGetCommentsRequest, dev.wellspring.v1.BatchGetCommentsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "BatchGetComments"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.BatchGetCommentsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.BatchGetCommentsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new CommentServiceMethodDescriptorSupplier("BatchGetComments"))
              .build();
        }
      }
    }
    return getBatchGetCommentsMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.wellspring.v1.ListCommentsRequest,
      dev.wellspring.v1.ListCommentsResponse> getListCommentsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListComments",
      requestType = dev.wellspring.v1.ListCommentsRequest.class,
      responseType = dev.wellspring.v1.ListCommentsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.wellspring.v1.ListCommentsRequest,
      dev.wellspring.v1.ListCommentsResponse> getListCommentsMethod() {
    io.grpc.MethodDescriptor<dev.wellspring.v1.ListCommentsRequest, dev.wellspring.v1.ListCommentsResponse> getListCommentsMethod;
    if ((getListCommentsMethod = CommentServiceGrpc.getListCommentsMethod) == null) {
      synchronized (CommentServiceGrpc.class) {
        if ((getListCommentsMethod = CommentServiceGrpc.getListCommentsMethod) == null) {
          CommentServiceGrpc.getListCommentsMethod = getListCommentsMethod =
              io.grpc.MethodDescriptor.<dev.wellspring.v1.ListCommentsRequest, dev.wellspring.v1.ListCommentsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListComments"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.ListCommentsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.ListCommentsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new CommentServiceMethodDescriptorSupplier("ListComments"))
              .build();
        }
      }
    }
    return getListCommentsMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.wellspring.v1.CreateCommentRequest,
      dev.wellspring.v1.Comment> getCreateCommentMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "CreateComment",
      requestType = dev.wellspring.v1.CreateCommentRequest.class,
      responseType = dev.wellspring.v1.Comment.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.wellspring.v1.CreateCommentRequest,
      dev.wellspring.v1.Comment> getCreateCommentMethod() {
    io.grpc.MethodDescriptor<dev.wellspring.v1.CreateCommentRequest, dev.wellspring.v1.Comment> getCreateCommentMethod;
    if ((getCreateCommentMethod = CommentServiceGrpc.getCreateCommentMethod) == null) {
      synchronized (CommentServiceGrpc.class) {
        if ((getCreateCommentMethod = CommentServiceGrpc.getCreateCommentMethod) == null) {
          CommentServiceGrpc.getCreateCommentMethod = getCreateCommentMethod =
              io.grpc.MethodDescriptor.<dev.wellspring.v1.CreateCommentRequest, dev.wellspring.v1.Comment>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "CreateComment"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.CreateCommentRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.Comment.getDefaultInstance()))
              .setSchemaDescriptor(new CommentServiceMethodDescriptorSupplier("CreateComment"))
              .build();
        }
      }
    }
    return getCreateCommentMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.wellspring.v1.UpdateCommentRequest,
      dev.wellspring.v1.Comment> getUpdateCommentMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "UpdateComment",
      requestType = dev.wellspring.v1.UpdateCommentRequest.class,
      responseType = dev.wellspring.v1.Comment.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.wellspring.v1.UpdateCommentRequest,
      dev.wellspring.v1.Comment> getUpdateCommentMethod() {
    io.grpc.MethodDescriptor<dev.wellspring.v1.UpdateCommentRequest, dev.wellspring.v1.Comment> getUpdateCommentMethod;
    if ((getUpdateCommentMethod = CommentServiceGrpc.getUpdateCommentMethod) == null) {
      synchronized (CommentServiceGrpc.class) {
        if ((getUpdateCommentMethod = CommentServiceGrpc.getUpdateCommentMethod) == null) {
          CommentServiceGrpc.getUpdateCommentMethod = getUpdateCommentMethod =
              io.grpc.MethodDescriptor.<dev.wellspring.v1.UpdateCommentRequest, dev.wellspring.v1.Comment>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "UpdateComment"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.UpdateCommentRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.Comment.getDefaultInstance()))
              .setSchemaDescriptor(new CommentServiceMethodDescriptorSupplier("UpdateComment"))
              .build();
        }
      }
    }
    return getUpdateCommentMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.wellspring.v1.DeleteCommentRequest,
      com.google.protobuf.Empty> getDeleteCommentMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "DeleteComment",
      requestType = dev.wellspring.v1.DeleteCommentRequest.class,
      responseType = com.google.protobuf.Empty.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.wellspring.v1.DeleteCommentRequest,
      com.google.protobuf.Empty> getDeleteCommentMethod() {
    io.grpc.MethodDescriptor<dev.wellspring.v1.DeleteCommentRequest, com.google.protobuf.Empty> getDeleteCommentMethod;
    if ((getDeleteCommentMethod = CommentServiceGrpc.getDeleteCommentMethod) == null) {
      synchronized (CommentServiceGrpc.class) {
        if ((getDeleteCommentMethod = CommentServiceGrpc.getDeleteCommentMethod) == null) {
          CommentServiceGrpc.getDeleteCommentMethod = getDeleteCommentMethod =
              io.grpc.MethodDescriptor.<dev.wellspring.v1.DeleteCommentRequest, com.google.protobuf.Empty>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "DeleteComment"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.DeleteCommentRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.google.protobuf.Empty.getDefaultInstance()))
              .setSchemaDescriptor(new CommentServiceMethodDescriptorSupplier("DeleteComment"))
              .build();
        }
      }
    }
    return getDeleteCommentMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.wellspring.v1.ImportCommentsRequest,
      dev.wellspring.v1.ImportCommentsResponse> getImportCommentsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ImportComments",
      requestType = dev.wellspring.v1.ImportCommentsRequest.class,
      responseType = dev.wellspring.v1.ImportCommentsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.CLIENT_STREAMING)
  public static io.grpc.MethodDescriptor<dev.wellspring.v1.ImportCommentsRequest,
      dev.wellspring.v1.ImportCommentsResponse> getImportCommentsMethod() {
    io.grpc.MethodDescriptor<dev.wellspring.v1.ImportCommentsRequest, dev.wellspring.v1.ImportCommentsResponse> getImportCommentsMethod;
    if ((getImportCommentsMethod = CommentServiceGrpc.getImportCommentsMethod) == null) {
      synchronized (CommentServiceGrpc.class) {
        if ((getImportCommentsMethod = CommentServiceGrpc.getImportCommentsMethod) == null) {
          CommentServiceGrpc.getImportCommentsMethod = getImportCommentsMethod =
              io.grpc.MethodDescriptor.<dev.wellspring.v1.ImportCommentsRequest, dev.wellspring.v1.ImportCommentsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.CLIENT_STREAMING)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ImportComments"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.ImportCommentsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.ImportCommentsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new CommentServiceMethodDescriptorSupplier("ImportComments"))
              .build();
        }
      }
    }
    return getImportCommentsMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.wellspring.v1.ExportCommentsRequest,
      dev.wellspring.v1.ExportCommentsResponse> getExportCommentsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ExportComments",
      requestType = dev.wellspring.v1.ExportCommentsRequest.class,
      responseType = dev.wellspring.v1.ExportCommentsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
  public static io.grpc.MethodDescriptor<dev.wellspring.v1.ExportCommentsRequest,
      dev.wellspring.v1.ExportCommentsResponse> getExportCommentsMethod() {
    io.grpc.MethodDescriptor<dev.wellspring.v1.ExportCommentsRequest, dev.wellspring.v1.ExportCommentsResponse> getExportCommentsMethod;
    if ((getExportCommentsMethod = CommentServiceGrpc.getExportCommentsMethod) == null) {
      synchronized (CommentServiceGrpc.class) {
        if ((getExportCommentsMethod = CommentServiceGrpc.getExportCommentsMethod) == null) {
          CommentServiceGrpc.getExportCommentsMethod = getExportCommentsMethod =
              io.grpc.MethodDescriptor.<dev.wellspring.v1.ExportCommentsRequest, dev.wellspring.v1.ExportCommentsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ExportComments"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.ExportCommentsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.wellspring.v1.ExportCommentsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new CommentServiceMethodDescriptorSupplier("ExportComments"))
              .build();
        }
      }
    }
    return getExportCommentsMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static CommentServiceStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<CommentServiceStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<CommentServiceStub>() {
        @java.lang.Override
        public CommentServiceStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new CommentServiceStub(channel, callOptions);
        }
      };
    return CommentServiceStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static CommentServiceBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<CommentServiceBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<CommentServiceBlockingStub>() {
        @java.lang.Override
        public CommentServiceBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new CommentServiceBlockingStub(channel, callOptions);
        }
      };
    return CommentServiceBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static CommentServiceFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<CommentServiceFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<CommentServiceFutureStub>() {
        @java.lang.Override
        public CommentServiceFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new CommentServiceFutureStub(channel, callOptions);
        }
      };
    return CommentServiceFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * Comments: the standard methods (AIP-131..135), batch get (AIP-231) and
   * bulk import/export.
   * </pre>
   */
  public static abstract class CommentServiceImplBase implements io.grpc.BindableService {

    /**
     * <pre>
     * Returns one comment. NOT_FOUND if absent.
     * </pre>
     */
    public void getComment(dev.wellspring.v1.GetCommentRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.Comment> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getGetCommentMethod(), responseObserver);
    }

    /**
     * <pre>
     * Returns 1-1000 comments in request order from one snapshot. NOT_FOUND
     * naming every missing id if any is absent.
     * </pre>
     */
    public void batchGetComments(dev.wellspring.v1.BatchGetCommentsRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.BatchGetCommentsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getBatchGetCommentsMethod(), responseObserver);
    }

    /**
     * <pre>
     * Lists comments a page at a time (keyset pagination).
     * </pre>
     */
    public void listComments(dev.wellspring.v1.ListCommentsRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.ListCommentsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListCommentsMethod(), responseObserver);
    }

    /**
     * <pre>
     * Creates a comment. ALREADY_EXISTS for a taken id.
     * </pre>
     */
    public void createComment(dev.wellspring.v1.CreateCommentRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.Comment> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getCreateCommentMethod(), responseObserver);
    }

    /**
     * <pre>
     * Updates a comment. ABORTED if `comment.etag` is set and stale.
     * </pre>
     */
    public void updateComment(dev.wellspring.v1.UpdateCommentRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.Comment> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getUpdateCommentMethod(), responseObserver);
    }

    /**
     * <pre>
     * Deletes a comment.
     * </pre>
     */
    public void deleteComment(dev.wellspring.v1.DeleteCommentRequest request,
        io.grpc.stub.StreamObserver<com.google.protobuf.Empty> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getDeleteCommentMethod(), responseObserver);
    }

    /**
     * <pre>
     * Bulk upsert by id from a client stream, committed in chunks.
     * </pre>
     */
    public io.grpc.stub.StreamObserver<dev.wellspring.v1.ImportCommentsRequest> importComments(
        io.grpc.stub.StreamObserver<dev.wellspring.v1.ImportCommentsResponse> responseObserver) {
      return io.grpc.stub.ServerCalls.asyncUnimplementedStreamingCall(getImportCommentsMethod(), responseObserver);
    }

    /**
     * <pre>
     * Streams every matching comment from one snapshot, many per message.
     * </pre>
     */
    public void exportComments(dev.wellspring.v1.ExportCommentsRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.ExportCommentsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getExportCommentsMethod(), responseObserver);
    }

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return io.grpc.ServerServiceDefinition.builder(getServiceDescriptor())
          .addMethod(
            getGetCommentMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.wellspring.v1.GetCommentRequest,
                dev.wellspring.v1.Comment>(
                  this, METHODID_GET_COMMENT)))
          .addMethod(
            getBatchGetCommentsMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.wellspring.v1.BatchGetCommentsRequest,
                dev.wellspring.v1.BatchGetCommentsResponse>(
                  this, METHODID_BATCH_GET_COMMENTS)))
          .addMethod(
            getListCommentsMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.wellspring.v1.ListCommentsRequest,
                dev.wellspring.v1.ListCommentsResponse>(
                  this, METHODID_LIST_COMMENTS)))
          .addMethod(
            getCreateCommentMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.wellspring.v1.CreateCommentRequest,
                dev.wellspring.v1.Comment>(
                  this, METHODID_CREATE_COMMENT)))
          .addMethod(
            getUpdateCommentMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.wellspring.v1.UpdateCommentRequest,
                dev.wellspring.v1.Comment>(
                  this, METHODID_UPDATE_COMMENT)))
          .addMethod(
            getDeleteCommentMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                dev.wellspring.v1.DeleteCommentRequest,
                com.google.protobuf.Empty>(
                  this, METHODID_DELETE_COMMENT)))
          .addMethod(
            getImportCommentsMethod(),
            io.grpc.stub.ServerCalls.asyncClientStreamingCall(
              new MethodHandlers<
                dev.wellspring.v1.ImportCommentsRequest,
                dev.wellspring.v1.ImportCommentsResponse>(
                  this, METHODID_IMPORT_COMMENTS)))
          .addMethod(
            getExportCommentsMethod(),
            io.grpc.stub.ServerCalls.asyncServerStreamingCall(
              new MethodHandlers<
                dev.wellspring.v1.ExportCommentsRequest,
                dev.wellspring.v1.ExportCommentsResponse>(
                  this, METHODID_EXPORT_COMMENTS)))
          .build();
    }
  }

  /**
   * <pre>
   * Comments: the standard methods (AIP-131..135), batch get (AIP-231) and
   * bulk import/export.
   * </pre>
   */
  public static final class CommentServiceStub extends io.grpc.stub.AbstractAsyncStub<CommentServiceStub> {
    private CommentServiceStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected CommentServiceStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new CommentServiceStub(channel, callOptions);
    }

    /**
     * <pre>
     * Returns one comment. NOT_FOUND if absent.
     * </pre>
     */
    public void getComment(dev.wellspring.v1.GetCommentRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.Comment> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getGetCommentMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Returns 1-1000 comments in request order from one snapshot. NOT_FOUND
     * naming every missing id if any is absent.
     * </pre>
     */
    public void batchGetComments(dev.wellspring.v1.BatchGetCommentsRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.BatchGetCommentsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getBatchGetCommentsMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Lists comments a page at a time (keyset pagination).
     * </pre>
     */
    public void listComments(dev.wellspring.v1.ListCommentsRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.ListCommentsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListCommentsMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Creates a comment. ALREADY_EXISTS for a taken id.
     * </pre>
     */
    public void createComment(dev.wellspring.v1.CreateCommentRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.Comment> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getCreateCommentMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Updates a comment. ABORTED if `comment.etag` is set and stale.
     * </pre>
     */
    public void updateComment(dev.wellspring.v1.UpdateCommentRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.Comment> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getUpdateCommentMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Deletes a comment.
     * </pre>
     */
    public void deleteComment(dev.wellspring.v1.DeleteCommentRequest request,
        io.grpc.stub.StreamObserver<com.google.protobuf.Empty> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getDeleteCommentMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Bulk upsert by id from a client stream, committed in chunks.
     * </pre>
     */
    public io.grpc.stub.StreamObserver<dev.wellspring.v1.ImportCommentsRequest> importComments(
        io.grpc.stub.StreamObserver<dev.wellspring.v1.ImportCommentsResponse> responseObserver) {
      return io.grpc.stub.ClientCalls.asyncClientStreamingCall(
          getChannel().newCall(getImportCommentsMethod(), getCallOptions()), responseObserver);
    }

    /**
     * <pre>
     * Streams every matching comment from one snapshot, many per message.
     * </pre>
     */
    public void exportComments(dev.wellspring.v1.ExportCommentsRequest request,
        io.grpc.stub.StreamObserver<dev.wellspring.v1.ExportCommentsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncServerStreamingCall(
          getChannel().newCall(getExportCommentsMethod(), getCallOptions()), request, responseObserver);
    }
  }

  /**
   * <pre>
   * Comments: the standard methods (AIP-131..135), batch get (AIP-231) and
   * bulk import/export.
   * </pre>
   */
  public static final class CommentServiceBlockingStub extends io.grpc.stub.AbstractBlockingStub<CommentServiceBlockingStub> {
    private CommentServiceBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected CommentServiceBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new CommentServiceBlockingStub(channel, callOptions);
    }

    /**
     * <pre>
     * Returns one comment. NOT_FOUND if absent.
     * </pre>
     */
    public dev.wellspring.v1.Comment getComment(dev.wellspring.v1.GetCommentRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getGetCommentMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Returns 1-1000 comments in request order from one snapshot. NOT_FOUND
     * naming every missing id if any is absent.
     * </pre>
     */
    public dev.wellspring.v1.BatchGetCommentsResponse batchGetComments(dev.wellspring.v1.BatchGetCommentsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getBatchGetCommentsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Lists comments a page at a time (keyset pagination).
     * </pre>
     */
    public dev.wellspring.v1.ListCommentsResponse listComments(dev.wellspring.v1.ListCommentsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListCommentsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Creates a comment. ALREADY_EXISTS for a taken id.
     * </pre>
     */
    public dev.wellspring.v1.Comment createComment(dev.wellspring.v1.CreateCommentRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getCreateCommentMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Updates a comment. ABORTED if `comment.etag` is set and stale.
     * </pre>
     */
    public dev.wellspring.v1.Comment updateComment(dev.wellspring.v1.UpdateCommentRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getUpdateCommentMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Deletes a comment.
     * </pre>
     */
    public com.google.protobuf.Empty deleteComment(dev.wellspring.v1.DeleteCommentRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getDeleteCommentMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Streams every matching comment from one snapshot, many per message.
     * </pre>
     */
    public java.util.Iterator<dev.wellspring.v1.ExportCommentsResponse> exportComments(
        dev.wellspring.v1.ExportCommentsRequest request) {
      return io.grpc.stub.ClientCalls.blockingServerStreamingCall(
          getChannel(), getExportCommentsMethod(), getCallOptions(), request);
    }
  }

  /**
   * <pre>
   * Comments: the standard methods (AIP-131..135), batch get (AIP-231) and
   * bulk import/export.
   * </pre>
   */
  public static final class CommentServiceFutureStub extends io.grpc.stub.AbstractFutureStub<CommentServiceFutureStub> {
    private CommentServiceFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected CommentServiceFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new CommentServiceFutureStub(channel, callOptions);
    }

    /**
     * <pre>
     * Returns one comment. NOT_FOUND if absent.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.wellspring.v1.Comment> getComment(
        dev.wellspring.v1.GetCommentRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getGetCommentMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Returns 1-1000 comments in request order from one snapshot. NOT_FOUND
     * naming every missing id if any is absent.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.wellspring.v1.BatchGetCommentsResponse> batchGetComments(
        dev.wellspring.v1.BatchGetCommentsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getBatchGetCommentsMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Lists comments a page at a time (keyset pagination).
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.wellspring.v1.ListCommentsResponse> listComments(
        dev.wellspring.v1.ListCommentsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListCommentsMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Creates a comment. ALREADY_EXISTS for a taken id.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.wellspring.v1.Comment> createComment(
        dev.wellspring.v1.CreateCommentRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getCreateCommentMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Updates a comment. ABORTED if `comment.etag` is set and stale.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.wellspring.v1.Comment> updateComment(
        dev.wellspring.v1.UpdateCommentRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getUpdateCommentMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Deletes a comment.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.google.protobuf.Empty> deleteComment(
        dev.wellspring.v1.DeleteCommentRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getDeleteCommentMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_GET_COMMENT = 0;
  private static final int METHODID_BATCH_GET_COMMENTS = 1;
  private static final int METHODID_LIST_COMMENTS = 2;
  private static final int METHODID_CREATE_COMMENT = 3;
  private static final int METHODID_UPDATE_COMMENT = 4;
  private static final int METHODID_DELETE_COMMENT = 5;
  private static final int METHODID_EXPORT_COMMENTS = 6;
  private static final int METHODID_IMPORT_COMMENTS = 7;

  private static final class MethodHandlers<Req, Resp> implements
      io.grpc.stub.ServerCalls.UnaryMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ServerStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ClientStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.BidiStreamingMethod<Req, Resp> {
    private final CommentServiceImplBase serviceImpl;
    private final int methodId;

    MethodHandlers(CommentServiceImplBase serviceImpl, int methodId) {
      this.serviceImpl = serviceImpl;
      this.methodId = methodId;
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public void invoke(Req request, io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_GET_COMMENT:
          serviceImpl.getComment((dev.wellspring.v1.GetCommentRequest) request,
              (io.grpc.stub.StreamObserver<dev.wellspring.v1.Comment>) responseObserver);
          break;
        case METHODID_BATCH_GET_COMMENTS:
          serviceImpl.batchGetComments((dev.wellspring.v1.BatchGetCommentsRequest) request,
              (io.grpc.stub.StreamObserver<dev.wellspring.v1.BatchGetCommentsResponse>) responseObserver);
          break;
        case METHODID_LIST_COMMENTS:
          serviceImpl.listComments((dev.wellspring.v1.ListCommentsRequest) request,
              (io.grpc.stub.StreamObserver<dev.wellspring.v1.ListCommentsResponse>) responseObserver);
          break;
        case METHODID_CREATE_COMMENT:
          serviceImpl.createComment((dev.wellspring.v1.CreateCommentRequest) request,
              (io.grpc.stub.StreamObserver<dev.wellspring.v1.Comment>) responseObserver);
          break;
        case METHODID_UPDATE_COMMENT:
          serviceImpl.updateComment((dev.wellspring.v1.UpdateCommentRequest) request,
              (io.grpc.stub.StreamObserver<dev.wellspring.v1.Comment>) responseObserver);
          break;
        case METHODID_DELETE_COMMENT:
          serviceImpl.deleteComment((dev.wellspring.v1.DeleteCommentRequest) request,
              (io.grpc.stub.StreamObserver<com.google.protobuf.Empty>) responseObserver);
          break;
        case METHODID_EXPORT_COMMENTS:
          serviceImpl.exportComments((dev.wellspring.v1.ExportCommentsRequest) request,
              (io.grpc.stub.StreamObserver<dev.wellspring.v1.ExportCommentsResponse>) responseObserver);
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
        case METHODID_IMPORT_COMMENTS:
          return (io.grpc.stub.StreamObserver<Req>) serviceImpl.importComments(
              (io.grpc.stub.StreamObserver<dev.wellspring.v1.ImportCommentsResponse>) responseObserver);
        default:
          throw new AssertionError();
      }
    }
  }

  private static abstract class CommentServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    CommentServiceBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return dev.wellspring.v1.CommentServiceProto.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("CommentService");
    }
  }

  private static final class CommentServiceFileDescriptorSupplier
      extends CommentServiceBaseDescriptorSupplier {
    CommentServiceFileDescriptorSupplier() {}
  }

  private static final class CommentServiceMethodDescriptorSupplier
      extends CommentServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final String methodName;

    CommentServiceMethodDescriptorSupplier(String methodName) {
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
      synchronized (CommentServiceGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new CommentServiceFileDescriptorSupplier())
              .addMethod(getGetCommentMethod())
              .addMethod(getBatchGetCommentsMethod())
              .addMethod(getListCommentsMethod())
              .addMethod(getCreateCommentMethod())
              .addMethod(getUpdateCommentMethod())
              .addMethod(getDeleteCommentMethod())
              .addMethod(getImportCommentsMethod())
              .addMethod(getExportCommentsMethod())
              .build();
        }
      }
    }
    return result;
  }
}
